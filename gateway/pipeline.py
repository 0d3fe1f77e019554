"""The pipeline: what each spooled message means, and what leaves the gateway.

Steps for one message: read it (mime), decide by METHOD (gateway), record
the decision (store) and queue what goes out (outbox), all in one durable
transaction at the end so a crash repeats the message instead of losing it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.delivery import Failure
from gateway.logs import event, get_logger
from gateway.settings import Settings
from store.db import Store
from store.outbox import OutboxEntry

log = get_logger("pipeline")


@dataclass
class Outgoing:
    """One mail to queue: its envelope and bytes."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    kind: str = "relay"


@dataclass
class Decision:
    """What the pipeline decided for one message, committed together."""

    outgoing: list[Outgoing] = field(default_factory=list)
    audit: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)
    store_actions: list[Callable[[], None]] = field(default_factory=list)
    quarantine_reason: str | None = None


class Pipeline:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.on_outbox: Callable[[], None] = lambda: None

    def prepare(self) -> None:
        """Make sure what the pipeline needs exists before the first message."""

    def process(self, queue_id: str) -> None:
        message = self.store.get_spooled(queue_id)
        if message is None:
            return
        decision = Decision(outgoing=[Outgoing(message.mail_from, list(message.rcpt_tos), message.raw)])
        self.commit(queue_id, message.raw, decision)

    def commit(self, queue_id: str, raw: bytes, decision: Decision) -> None:
        message = self.store.get_spooled(queue_id)
        lifetime = self.settings.relay.max_queue_lifetime
        with self.store.transaction(durable=True):
            for action in decision.store_actions:
                action()
            for name, outcome, reason, upn in decision.audit:
                self.store.audit(name, outcome, reason, queue_id=queue_id, upn=upn)
            if decision.quarantine_reason is not None:
                self.store.quarantine_message(
                    raw=raw, reason=decision.quarantine_reason, spool_id=queue_id,
                    peer=message.peer if message else None,
                    mail_from=message.mail_from if message else None,
                    rcpt_tos=message.rcpt_tos if message else (),
                )
            for out in decision.outgoing:
                self.store.enqueue(
                    mail_from=out.mail_from, rcpt_tos=out.rcpt_tos, raw=out.raw,
                    lifetime=lifetime, kind=out.kind, spool_id=queue_id,
                )
            self.store.finish_spooled(queue_id)
        event(log, logging.INFO, "processed", queue_id=queue_id, outgoing=len(decision.outgoing),
              quarantined=decision.quarantine_reason is not None)
        if decision.outgoing:
            self.on_outbox()

    def build_dsn(self, entry: OutboxEntry, failures: list[Failure]) -> bytes:
        raise NotImplementedError
