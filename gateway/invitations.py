"""Invitations: creating dynamic UPNs, sending their keys, refreshing and releasing them.

An OTPKEY and a signup token exist only in memory while the INVITATION is
built. The gateway keeps the RFC 2289 verifier state derived from the key
and a SHA-256 hash of the token, and the mail leaves only encrypted.
"""

from __future__ import annotations

import datetime
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import make_msgid
from typing import Any

from crypto.errors import CryptoError
from crypto.keys import KeyRecord
from crypto.otp import current_challenge, generate_otpkey, generate_seed, initial_state
from gateway import __version__
from gateway.decision import Outgoing
from gateway.keyring import Keyring
from gateway.logs import event, get_logger
from gateway.metrics import INVITATIONS
from gateway.settings import Settings
from gateway.upn_state import state_columns, verifier_state
from gateway.web.tokens import new_signup_token
from mime import MimeError, build_held_notice, parse_cal_address, build_invitation_body, build_invitation_component, canonical_bytes, wrap_outer
from store.db import Store

log = get_logger("invitations")

PRODID = f"-//imip-gateway//imip-gateway {__version__}//EN"
SUBJECT = "Invitation to a calendar"


@dataclass(frozen=True)
class EventInfo:
    """Event details an invitation shows the attendee: the event that caused it."""

    uid: str
    recurrence_id: str
    sequence: int
    summary: str | None
    start: str | None
    calendar: str | None


@dataclass(frozen=True)
class InviteResult:
    """One invitation decision: the mails, the store actions, the outcome and the new UPN's challenge."""

    outgoing: list[Outgoing]
    actions: list[Callable[[], None]]
    outcome: str
    challenge: str | None = None


class Invitations:
    def __init__(self, settings: Settings, store: Store, keyring: Keyring) -> None:
        self.settings = settings
        self.store = store
        self.keyring = keyring
        # Fingerprints that failed to encrypt in this process, so they are not retried every round.
        self.unusable: set[str] = set()

    # --- building ---------------------------------------------------------------

    def sealed_invitation(
        self,
        *,
        address: str,
        organizer: str,
        organizer_cn: str | None,
        event_info: EventInfo | None,
        recipient: KeyRecord,
        uid: str,
        sequence: int,
        include_url: bool,
    ) -> tuple[Outgoing, dict[str, Any]]:
        """Build an encrypted INVITATION for ``address`` and the UPN columns that go with it.

        The columns hold the verifier state at ``otp_sequence``, the pinned
        fingerprint and the hash of the signup token, never the secrets.
        """
        invitation = self.settings.invitation
        columns: dict[str, Any] = {"key_kind": recipient.kind, "key_fingerprint": recipient.fingerprint,
                                   "invitation_uid": uid, "invitation_sequence": sequence}
        otpkey = url = None
        if "otpkey" in invitation.methods:
            otpkey = generate_otpkey(invitation.otp_algorithm)
            columns.update(state_columns(initial_state(otpkey, generate_seed(), invitation.otp_sequence)))
        if "url" in invitation.methods and include_url:
            token, token_hash = new_signup_token()
            url = f"{self.settings.web.public_url}/signup/{token}"
            columns.update(signup_token_hash=token_hash, signup_expires=time.time() + invitation.signup_ttl)

        now = datetime.datetime.now(datetime.timezone.utc)
        component = build_invitation_component(
            uid=uid, dtstamp=now, target=self.settings.calendar.target, organizer=organizer,
            organizer_cn=organizer_cn, attendee=address, otpkey=otpkey, url=url, prodid=PRODID, sequence=sequence,
        )
        body = build_invitation_body(
            organizer=organizer, organizer_cn=organizer_cn, attendee=address,
            summary=event_info.summary if event_info else None, start=event_info.start if event_info else None,
            target=self.settings.calendar.target, otpkey=otpkey, url=url, invitation_component=component,
        )
        entity = self.keyring.seal(canonical_bytes(body), recipient)
        raw = wrap_outer(
            entity, from_address=self.settings.invitation_from, to=address, subject=SUBJECT,
            message_id=make_msgid(domain=self.settings.gateway.hostname), date=now,
        )
        return Outgoing(self.settings.invitation_from, [address], raw, kind="invitation"), columns

    def held_notice(self, address: str, organizer: str, summary: str | None) -> Outgoing:
        now = datetime.datetime.now(datetime.timezone.utc)
        notice = build_held_notice(
            from_address=self.settings.invitation_from, organizer=organizer, attendee=address, summary=summary,
            message_id=make_msgid(domain=self.settings.gateway.hostname), date=now,
        )
        return Outgoing("", [parse_cal_address(organizer).address], notice.as_bytes(), kind="notice")

    def new_uid(self) -> str:
        return f"{secrets.token_hex(12)}@{self.settings.gateway.hostname}"

    # --- new UPNs --------------------------------------------------------------

    def invite(
        self,
        *,
        address: str,
        original: str,
        organizer: str,
        organizer_cn: str | None,
        event_info: EventInfo,
        existing: dict[str, Any] | None,
    ) -> InviteResult:
        """Decide one new invitation: encrypted to the attendee's key, or held without one."""
        recipient = self.keyring.encryption_key(address)
        if recipient is None:
            return self._hold(address, original, organizer, event_info, existing)

        uid = self.new_uid()
        try:
            outgoing, columns = self.sealed_invitation(
                address=address, organizer=organizer, organizer_cn=organizer_cn, event_info=event_info,
                recipient=recipient, uid=uid, sequence=0, include_url=True,
            )
        except (CryptoError, MimeError) as error:
            self.unusable.add(recipient.fingerprint)
            reason = f"the {recipient.kind} key {recipient.fingerprint} cannot be used: {error}"
            return self._hold(address, original, organizer, event_info, existing, reason)

        def record() -> None:
            if existing is None:
                self.store.create_upn(address, original, "invited", organizer=organizer, **columns)
            else:
                self.store.update_upn(address, state="invited", organizer=organizer, revoked=None, reason=None,
                                      **columns)
            self._record_event(address, event_info)
            self.store.audit("invitation", "sent", f"encrypted to {recipient.kind} {recipient.fingerprint}",
                             upn=address)

        INVITATIONS.labels("sent").inc()
        event(log, logging.INFO, "invitation-sent", upn=address, key_kind=recipient.kind,
              fingerprint=recipient.fingerprint)
        state = verifier_state(columns)
        return InviteResult([outgoing], [record], "invited", str(current_challenge(state)) if state else None)

    def _hold(
        self, address: str, original: str, organizer: str, event_info: EventInfo, existing: dict[str, Any] | None,
        reason: str = "no certificate or key for the address",
    ) -> InviteResult:
        if self.settings.invitation.no_key_policy == "drop":
            event(log, logging.WARNING, "invitation-dropped", upn=address,
                  reason="no certificate or key; no_key_policy = drop")
            audit = lambda: self.store.audit("invitation", "dropped", "no certificate or key", upn=address)  # noqa: E731
            return InviteResult([], [audit], "dropped")

        def record() -> None:
            if existing is None:
                self.store.create_upn(address, original, "held", organizer=organizer)
            else:
                self.store.update_upn(address, state="held", organizer=organizer, revoked=None, reason=None)
            self._record_event(address, event_info)
            self.store.audit("invitation", "held", reason, upn=address)

        INVITATIONS.labels("held").inc()
        event(log, logging.WARNING, "invitation-held", upn=address, reason=reason,
              action=f"import a usable certificate or OpenPGP key for {address} with: imip-gateway keys import FILE")
        return InviteResult([self.held_notice(address, organizer, event_info.summary)], [record], "held")

    def _record_event(self, address: str, event_info: EventInfo) -> None:
        self.store.record_upn_event(
            address, event_info.uid, event_info.recurrence_id, event_info.sequence, "NEEDS-ACTION",
            event_info.calendar, event_info.summary, event_info.start,
        )

    def link_event(self, address: str, event_info: EventInfo) -> Callable[[], None]:
        """Store action linking another event to an existing invited or held UPN."""

        def record() -> None:
            self._record_event(address, event_info)
            self.store.audit("invitation", "linked", f"event {event_info.uid}", upn=address)

        return record

    # --- refresh and release -------------------------------------------------

    def refresh(self, address: str, reason: str) -> tuple[list[Outgoing], list[Callable[[], None]]]:
        """A new OTPKEY for a keyed UPN, sent the same encrypted way; the old state is replaced at commit.

        A UPN whose certificate or key is no longer usable is held instead and
        the log names the key to import.
        """
        row = self.store.get_upn(address)
        if row is None or row["state"] not in ("invited", "active"):
            return [], []
        recipient = self.keyring.encryption_key(address)
        if recipient is None:
            def hold() -> None:
                self.store.update_upn(address, state="held", otp_last=None, otp_seed=None, otp_sequence=None)
                self.store.audit("refresh", "held", "no usable certificate or key for the refresh", upn=address)

            event(log, logging.WARNING, "refresh-held", upn=address,
                  action=f"import a valid certificate or OpenPGP key for {address} with: imip-gateway keys import FILE")
            return [], [hold]

        sequence = int(row["invitation_sequence"] or 0) + 1
        try:
            outgoing, columns = self.sealed_invitation(
                address=address, organizer=row["organizer"] or self.settings.invitation_from, organizer_cn=None,
                event_info=self._latest_event(address), recipient=recipient,
                uid=row["invitation_uid"] or self.new_uid(), sequence=sequence,
                include_url=row["state"] == "invited",
            )
        except (CryptoError, MimeError) as error:
            self.unusable.add(recipient.fingerprint)
            event(log, logging.WARNING, "refresh-failed", upn=address, fingerprint=recipient.fingerprint,
                  error=str(error), action=f"import a usable certificate or OpenPGP key for {address}")
            return [], []

        def record() -> None:
            self.store.update_upn(address, **columns)
            self.store.audit("refresh", "sent", reason, upn=address)

        INVITATIONS.labels("refreshed").inc()
        event(log, logging.INFO, "key-refreshed", upn=address, reason=reason, fingerprint=recipient.fingerprint)
        return [outgoing], [record]

    def release_held(self) -> tuple[list[Outgoing], list[Callable[[], None]]]:
        """Invitations for held UPNs whose address now has a usable certificate or key."""
        mails: list[Outgoing] = []
        actions: list[Callable[[], None]] = []
        for row in self.store.list_upns("held"):
            address = row["address"]
            recipient = self.keyring.encryption_key(address)
            if recipient is None or recipient.fingerprint in self.unusable:
                continue
            try:
                outgoing, columns = self.sealed_invitation(
                    address=address, organizer=row["organizer"] or self.settings.invitation_from, organizer_cn=None,
                    event_info=self._latest_event(address), recipient=recipient,
                    uid=row["invitation_uid"] or self.new_uid(), sequence=int(row["invitation_sequence"] or 0),
                    include_url=True,
                )
            except (CryptoError, MimeError) as error:
                # Logged once: the key stays unusable until another one is imported.
                self.unusable.add(recipient.fingerprint)
                event(log, logging.WARNING, "release-failed", upn=address, fingerprint=recipient.fingerprint,
                      error=str(error), action=f"import a usable certificate or OpenPGP key for {address}")
                continue
            mails.append(outgoing)
            actions.append(self._released(address, columns, recipient))
        return mails, actions

    def _released(self, address: str, columns: dict[str, Any], recipient: KeyRecord) -> Callable[[], None]:
        def record() -> None:
            self.store.update_upn(address, state="invited", **columns)
            self.store.audit("invitation", "sent", f"released: key {recipient.fingerprint} imported", upn=address)

        INVITATIONS.labels("sent").inc()
        event(log, logging.INFO, "invitation-released", upn=address, fingerprint=recipient.fingerprint)
        return record

    def _latest_event(self, address: str) -> EventInfo | None:
        events = self.store.upn_events(address)
        if not events:
            return None
        row = events[-1]
        return EventInfo(row["uid"], row["recurrence_id"], row["sequence"], row["summary"], row["start"],
                         row["calendar"])


def refresh_from_cli(args: Any) -> int:
    """``upn refresh ADDRESS``: queue a new OTPKEY now; a running serve delivers it."""
    from gateway.accounts import normalize_address
    from gateway.commands.common import open_cli_store
    from gateway.errors import GatewayError, NotFound
    from gateway.pipeline import Pipeline

    settings, store = open_cli_store(args.config)
    address = normalize_address(args.address)
    row = store.get_upn(address)
    if row is None:
        raise NotFound(f"no dynamic UPN {address}; see upn list")
    if row["state"] not in ("invited", "active"):
        raise GatewayError(f"dynamic UPN {address} is {row['state']}; only invited or active UPNs get a new key")
    pipeline = Pipeline(settings, store)
    with pipeline.upn_lock:
        outgoing, actions = pipeline.invitations.refresh(address, "refreshed by operator")
        pipeline.commit_extra(outgoing, actions)
    updated = store.get_upn(address)
    if updated is not None and updated["state"] == "held":
        print(f"{address} is held: its certificate or key is expired or revoked; import a new one with keys import")
        return 1
    print(f"new key for {address} queued; the old one no longer works")
    return 0
