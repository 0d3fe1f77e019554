"""Relay copies: one per dynamic UPN with its own CHALLENGE, one shared by everyone else."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.accounts import normalize_address
from gateway.decision import Outgoing
from gateway.upn_state import current_challenge_text
from mime import Limits, rewrite
from store.db import Store


def relay_copies(
    store: Store,
    limits: Limits,
    *,
    mail_from: str,
    rcpt_tos: tuple[str, ...] | list[str],
    raw: bytes,
    remove_invite: bool,
    calendar: bool,
    pending_challenges: Mapping[str, str] | None = None,
) -> list[Outgoing]:
    """Split ``raw`` into the mails that leave for ``rcpt_tos``.

    A recipient that is a keyed dynamic UPN gets its own copy carrying its
    current challenge (``pending_challenges`` holds those of UPNs created
    by this very message). Everyone else shares one copy. Only calendar
    parts that change are rewritten; without any change the bytes pass
    through as received.
    """
    pending = pending_challenges or {}
    shared: list[str] = []
    personal: list[Outgoing] = []

    for rcpt in rcpt_tos:
        address = normalize_address(rcpt)
        challenge = pending.get(address)
        if challenge is None and calendar:
            row = store.get_upn(address)
            challenge = current_challenge_text(row) if row else None
        if challenge is None:
            shared.append(rcpt)
            continue
        data = rewrite(raw, remove_invite=remove_invite, challenge=challenge, limits=limits).data
        personal.append(Outgoing(mail_from, [rcpt], data))

    copies = []
    if shared:
        data = rewrite(raw, remove_invite=True, limits=limits).data if remove_invite else raw
        copies.append(Outgoing(mail_from, shared, data))
    return copies + personal
