"""The pipeline: what each spooled message means, and what leaves the gateway.

Steps for one message: read it (mime), decide by METHOD (the REQUEST and
REPLY flows), then record the decision and queue what goes out in one
durable transaction, so a crash repeats the message instead of losing it.
Mail with no calendar is relayed as received without a full parse.
"""

from __future__ import annotations

import datetime
import email.policy
import logging
import threading
from dataclasses import replace
from collections.abc import Callable
from email.parser import BytesHeaderParser
from email.utils import make_msgid

from gateway.decision import Decision, Outgoing
from gateway.delivery import Failure
from gateway.invitations import Invitations
from gateway.keyring import Keyring
from gateway.logs import event, get_logger
from gateway.metrics import MESSAGES_QUARANTINED, MESSAGES_RELAYED
from gateway.relay_copies import relay_copies
from gateway.reply_flow import ReplyFlow
from gateway.request_flow import RequestFlow
from gateway.settings import Settings
from mime import AmbiguousLine, LimitExceeded, MalformedCalendar, MimeError, ParsedMessage, build_dsn
from mime import VERDICT_HEADER, calendar_texts, find_signed_entity, read_message, remove_verdict_headers
from store.db import Store
from store.outbox import OutboxEntry
from store.spool import SpooledMessage

log = get_logger("pipeline")
_HEADERS = BytesHeaderParser(policy=email.policy.compat32)

VERDICT_MARKER = VERDICT_HEADER.lower().encode("ascii")

# Bytes whose absence proves a message carries no calendar, signature or
# encryption the gateway must look into, checked case-insensitively.
# "vcalendar" covers text/x-vcalendar and BEGIN:VCALENDAR; "name*" catches
# RFC 2231 file names, which may split ".ics" across continuations.
_MARKERS = (b"text/calendar", b"application/ics", b"vcalendar", b"pkcs7", b"pgp-", b".ics", b"name*")


def message_id_of(raw: bytes) -> str | None:
    """Return the Message-ID header, read without parsing the body."""
    value = _HEADERS.parsebytes(raw).get("Message-ID")
    return str(value).strip() if value else None


def might_need_parsing(raw: bytes) -> bool:
    lowered = raw.lower()
    return any(marker in lowered for marker in _MARKERS)


class Pipeline:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.limits = settings.mime_limits
        self.keyring = Keyring(settings, store)
        self.invitations = Invitations(settings, store, self.keyring)
        self.requests = RequestFlow(settings, store, self.invitations, self.limits)
        self.replies = ReplyFlow(settings, store, self.keyring, self.invitations, self.limits)
        self.on_outbox: Callable[[], None] = lambda: None
        # Decisions about UPNs read and then write their rows; one at a time
        # keeps two messages from inviting the same address twice.
        self.upn_lock = threading.Lock()

    def prepare(self) -> None:
        """Make the gateway's own keys on a first start."""
        self.keyring.ensure_own_keys()

    def process(self, queue_id: str) -> None:
        message = self.store.get_spooled(queue_id)
        if message is None:
            return
        if VERDICT_MARKER in message.raw.lower():
            # A sender must never pre-set the verdict the gateway vouches for.
            message = replace(message, raw=remove_verdict_headers(message.raw))
        if not might_need_parsing(message.raw):
            self.commit(message, self.plain_relay(message), message_id_of(message.raw))
            return
        try:
            parsed = read_message(message.raw, self.limits)
        except (LimitExceeded, MimeError) as error:
            reason = f"unreadable message: {error}"
            self.commit(message, Decision(quarantine_reason=reason), message_id_of(message.raw))
            return
        with self.upn_lock:
            decision = self.decide(message, parsed)
            self.commit(message, decision, parsed.message_id)

    def plain_relay(self, message: SpooledMessage) -> Decision:
        return Decision(outgoing=relay_copies(
            self.store, self.limits, mail_from=message.mail_from, rcpt_tos=message.rcpt_tos, raw=message.raw,
            remove_invite=False, calendar=False,
        ))

    def decide(self, message: SpooledMessage, parsed: ParsedMessage) -> Decision:
        try:
            if parsed.method == "REQUEST":
                return self.requests.handle(message, parsed)
            if parsed.method == "REPLY" or parsed.encrypted or self._opaque_signed(message.raw):
                return self.replies.handle(message, parsed)
            decision = Decision()
            if parsed.method == "CANCEL":
                self.record_cancel(message, parsed, decision)
            decision.outgoing += relay_copies(
                self.store, self.limits, mail_from=message.mail_from, rcpt_tos=message.rcpt_tos, raw=message.raw,
                remove_invite=any(a.invite for o in parsed.objects for a in o.attendees), calendar=parsed.has_calendar,
            )
            return decision
        except (AmbiguousLine, MalformedCalendar) as error:
            # Relaying unedited could pass on an INVITE or PW that had to go.
            return Decision(quarantine_reason=f"calendar cannot be rewritten safely: {error}")

    def _opaque_signed(self, raw: bytes) -> bool:
        try:
            signed = find_signed_entity(raw, self.limits)
        except MimeError:
            return False
        return signed is not None and signed.signed_bytes is None

    def record_cancel(self, message: SpooledMessage, parsed: ParsedMessage, decision: Decision) -> None:
        texts = calendar_texts(message.raw, self.limits)
        for item in parsed.objects:
            if item.uid:
                calendar = next((text for text in texts if f"UID:{item.uid}" in text), None)
                decision.actions.append(self._cancel_action(item.uid, item.recurrence_id, calendar))

    def _cancel_action(self, uid: str, recurrence_id: str | None, calendar: str | None) -> Callable[[], None]:
        def cancel() -> None:
            count = self.store.cancel_events(uid, recurrence_id, calendar)
            if count:
                which = f"occurrence {recurrence_id} of event {uid}" if recurrence_id else f"event {uid}"
                self.store.audit("cancel", "recorded", f"{which} cancelled for {count} invitation(s)")

        return cancel

    def commit(self, message: SpooledMessage, decision: Decision, message_id: str | None = None) -> None:
        """Queue the mails and make the store changes, then drop the message from the spool, atomically."""
        lifetime = self.settings.relay.max_queue_lifetime
        with self.store.transaction(durable=True):
            for action in decision.actions:
                action()
            for name, outcome, reason, upn in decision.audit:
                self.store.audit(name, outcome, reason, queue_id=message.id, upn=upn, message_id=message_id)
            if decision.quarantine_reason is not None:
                self.store.quarantine_message(
                    raw=message.raw, reason=decision.quarantine_reason, spool_id=message.id, peer=message.peer,
                    mail_from=message.mail_from, rcpt_tos=message.rcpt_tos,
                )
                self.store.audit("pipeline", "quarantined", decision.quarantine_reason, queue_id=message.id,
                                 message_id=message_id)
            for out in decision.outgoing:
                self.store.enqueue(
                    mail_from=out.mail_from, rcpt_tos=out.rcpt_tos, raw=out.raw,
                    lifetime=lifetime, kind=out.kind, spool_id=message.id,
                )
            self.store.finish_spooled(message.id)

        if decision.quarantine_reason is not None:
            MESSAGES_QUARANTINED.inc()
            event(log, logging.WARNING, "quarantined", queue_id=message.id, message_id=message_id,
                  reason=decision.quarantine_reason)
        for out in decision.outgoing:
            MESSAGES_RELAYED.labels(out.kind).inc()
        for name, outcome, reason, upn in decision.audit:
            event(log, logging.INFO, name, queue_id=message.id, message_id=message_id, upn=upn, outcome=outcome,
                  reason=reason)
        event(log, logging.INFO, "processed", queue_id=message.id, message_id=message_id,
              outgoing=len(decision.outgoing), quarantined=decision.quarantine_reason is not None)
        if decision.outgoing:
            self.on_outbox()

    def commit_extra(self, outgoing: list[Outgoing], actions: list[Callable[[], None]]) -> None:
        """Queue mails and store changes that come from no spooled message (refresh, release)."""
        if not outgoing and not actions:
            return
        with self.store.transaction(durable=True):
            for action in actions:
                action()
            for out in outgoing:
                self.store.enqueue(mail_from=out.mail_from, rcpt_tos=out.rcpt_tos, raw=out.raw,
                                   lifetime=self.settings.relay.max_queue_lifetime, kind=out.kind)
        self.on_outbox()

    def release_held(self) -> None:
        """Send the invitations of held UPNs whose keys have since been imported."""
        with self.upn_lock:
            outgoing, actions = self.invitations.release_held()
            self.commit_extra(outgoing, actions)

    def build_dsn(self, entry: OutboxEntry, failures: list[Failure]) -> bytes:
        """Build a DSN for the first failed recipient, listing every failure in its diagnostic."""
        first = failures[0]
        diagnostic = "; ".join(f"{f.recipient}: {f.code} {f.message}" for f in failures)
        now = datetime.datetime.now(datetime.timezone.utc)
        return build_dsn(
            entry.raw, envelope_from=entry.mail_from, recipient=first.recipient, status=first.status,
            diagnostic=diagnostic, reporting_mta=self.settings.gateway.hostname,
            message_id=make_msgid(domain=self.settings.gateway.hostname), date=now,
            arrival_date=datetime.datetime.fromtimestamp(entry.created, datetime.timezone.utc),
        )
