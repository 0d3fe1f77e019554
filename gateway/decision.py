"""The pipeline's decision for one message, committed in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Outgoing:
    """One mail to queue: its envelope and bytes."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    kind: str = "relay"


@dataclass
class Decision:
    """Mails to queue, store changes to make and decisions to audit, all or nothing.

    ``actions`` run inside the commit transaction, in order. ``audit``
    entries are (event, outcome, reason, upn).
    """

    outgoing: list[Outgoing] = field(default_factory=list)
    actions: list[Callable[[], None]] = field(default_factory=list)
    audit: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)
    quarantine_reason: str | None = None
