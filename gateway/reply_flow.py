"""REPLY from an attendee: activation of dynamic UPNs and the relayed form of the REPLY.

An ``invited`` UPN becomes ``active`` only when all of these hold: the
REPLY names the invited address exactly once among its ATTENDEEs, that
event's UID is one the UPN was invited to, and either the REPLY is signed
by the very certificate or key the invitation was encrypted to (with the
single From address being the invited one) or it carries a correct PW.
Which proofs count is ``[activation] accept``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace

from crypto.errors import OtpError
from crypto.otp import current_challenge, verify
from crypto.verdict import Verdict, outside_signed_part
from gateway.accounts import normalize_address
from gateway.decision import Decision, Outgoing
from gateway.invitations import Invitations
from gateway.keyring import Keyring, Opened
from gateway.logs import event, get_logger
from gateway.metrics import ACTIVATIONS
from gateway.relay_copies import relay_copies
from gateway.settings import Settings
from gateway.upn_state import activate_upn, spend_otp, verifier_state
from mime import (
    CalendarObject,
    Limits,
    VERDICT_HEADER,
    MimeError,
    ParsedMessage,
    build_relayed_reply,
    find_signed_entity,
    read_message,
    same_address,
    strip_pw,
)
from store.db import Store
from store.spool import SpooledMessage

log = get_logger("activation")


@dataclass
class Candidate:
    """A dynamic UPN this REPLY speaks for, and what the REPLY proves about it."""

    address: str
    row: dict[str, object]
    item: CalendarObject
    problems: list[str]
    spent: bool = False


def verdict_text(verdict: Verdict) -> str:
    """Return the verdict as one printable ASCII line of at most 300 characters, fit for a header field."""
    text = re.sub(r"[^\x20-\x7e]+", " ", str(verdict)).strip()
    return text[:300]


class ReplyFlow:
    def __init__(self, settings: Settings, store: Store, keyring: Keyring, invitations: Invitations,
                 limits: Limits) -> None:
        self.settings = settings
        self.store = store
        self.keyring = keyring
        self.invitations = invitations
        self.limits = limits

    def handle(self, message: SpooledMessage, parsed: ParsedMessage) -> Decision:
        opened = self.open(message.raw, parsed)
        inner = self.read_inner(opened, parsed)
        candidates = self.candidates(inner)
        decision = Decision()

        has_pw = any(item.pw for item in inner.objects)
        if not candidates:
            # Not a REPLY from a dynamic UPN: relayed as received, or as decrypted content.
            decision.outgoing += self.relayed(message, opened, inner, strip_password=has_pw)
            return decision

        activated = False
        unverified = False
        for candidate in candidates:
            outcome = self.judge(candidate, opened.verdict, parsed, decision)
            activated |= outcome == "activated"
            unverified |= outcome == "refused"

        if unverified and not activated and self.settings.activation.unverified_reply == "quarantine":
            decision.quarantine_reason = "REPLY from a dynamic UPN proved nothing: " + "; ".join(
                problem for candidate in candidates for problem in candidate.problems
            )
            return decision
        decision.outgoing += self.relayed(message, opened, inner, strip_password=has_pw,
                                          mark_unverified=unverified and not activated)
        return decision

    # --- reading ------------------------------------------------------------------

    def open(self, raw: bytes, parsed: ParsedMessage) -> Opened:
        from_address = parsed.from_address or ""
        if not parsed.encrypted and find_signed_entity(raw, self.limits) is None:
            return Opened(Verdict.none(), raw, False, False)
        opened = self.keyring.open(raw, from_address)
        if opened.verdict.is_valid and not opened.decrypted and any(not p.signed for p in parsed.calendar_parts):
            # A calendar beside the signed part is not covered by the signature.
            return replace(opened, verdict=outside_signed_part(opened.verdict), content=raw, signed_only=False)
        return opened

    def read_inner(self, opened: Opened, parsed: ParsedMessage) -> ParsedMessage:
        """Read the calendar that counts: the signed or decrypted content when there is one."""
        if not opened.decrypted and not opened.signed_only and not opened.unwrapped:
            return parsed
        try:
            inner = read_message(opened.content, self.limits)
        except MimeError:
            return parsed
        return replace(inner, from_address=parsed.from_address, message_id=parsed.message_id,
                       from_addresses=parsed.from_addresses)

    def candidates(self, parsed: ParsedMessage) -> list[Candidate]:
        found = []
        seen = set()
        for item in parsed.objects:
            if item.method != "REPLY":
                continue
            for attendee in item.attendees:
                address = normalize_address(attendee.address.address)
                if not attendee.address.is_mail or address in seen:
                    continue
                row = self.store.get_upn(address)
                if row is None or row["state"] == "held":
                    continue
                seen.add(address)
                found.append(Candidate(address, row, item, []))
        return found

    # --- deciding -----------------------------------------------------------------

    def judge(self, candidate: Candidate, verdict: Verdict, parsed: ParsedMessage, decision: Decision) -> str:
        """Decide one candidate; returns "activated", "refused" or "relayed" (an already active UPN)."""
        item, address = candidate.item, candidate.address
        if candidate.row["state"] == "revoked":
            # A revoked UPN has no verifier state left; nothing it sends proves anything.
            candidate.problems.append(f"{address} is revoked")
            decision.audit.append(("activation", "refused", f"{address} is revoked", address))
            event(log, logging.WARNING, "activation-refused", upn=address, reason="revoked")
            return "refused"
        pw_ok = self.check_pw(candidate, decision) if item.pw else False
        signed_ok = self.signature_proves(candidate, verdict, parsed)
        if pw_ok or signed_ok:
            # Only a REPLY that proves its sender may change what the store records for the UPN.
            self.record_partstat(candidate, decision)
        if candidate.row["state"] == "active":
            return "relayed"

        problems = self.structure_problems(candidate)
        method = None
        if not problems:
            method = self.proof_method(signed_ok, pw_ok)
        if method is None:
            problems += self.proof_problems(item, pw_ok, signed_ok, verdict)
            candidate.problems += problems
            reason = "; ".join(problems)
            decision.audit.append(("activation", "refused", reason, address))
            event(log, logging.WARNING, "activation-refused", upn=address, reason=reason, verdict=str(verdict))
            return "refused"

        reason = f"{method}: {verdict}" if method == "signed-reply" else "otp-reply: correct PW"
        decision.actions.append(lambda: self._activate(candidate, method, reason))
        event(log, logging.INFO, "activated", upn=address, method=method)
        return "activated"

    def structure_problems(self, candidate: Candidate) -> list[str]:
        """List each way the REPLY breaks the rules of naming the UPN once, for an event it was invited to."""
        item, address = candidate.item, candidate.address
        problems = []
        mentions = sum(
            1 for a in item.attendees if a.address.is_mail and normalize_address(a.address.address) == address
        )
        if mentions != 1:
            problems.append(f"{address} appears {mentions} times among the ATTENDEEs")
        if not item.uid or not self.store.upn_has_event(address, item.uid):
            problems.append(f"UID {item.uid!r} is not an event {address} was invited to")
        return problems

    def proof_method(self, signed_ok: bool, pw_ok: bool) -> str | None:
        accept = self.settings.activation.accept
        if signed_ok and "signed-reply" in accept:
            return "signed-reply"
        if pw_ok and "otp-reply" in accept:
            return "otp-reply"
        return None

    def proof_problems(self, item: CalendarObject, pw_ok: bool, signed_ok: bool, verdict: Verdict) -> list[str]:
        problems = []
        if item.pw and not pw_ok:
            problems.append("PW is not the expected one-time password")
        if not signed_ok:
            problems.append(f"the signature does not prove the sender ({verdict})")
        if (pw_ok or signed_ok) and not problems:
            accept = ", ".join(self.settings.activation.accept)
            problems.append(f"the proof offered is not in [activation] accept ({accept})")
        return problems

    def record_partstat(self, candidate: Candidate, decision: Decision) -> None:
        item, address = candidate.item, candidate.address
        partstat = next(
            (a.partstat for a in item.attendees if normalize_address(a.address.address) == address and a.partstat),
            None,
        )
        if partstat and item.uid and self.store.upn_has_event(address, item.uid):
            uid, recurrence_id = item.uid, item.recurrence_id or ""
            decision.actions.append(lambda: self.store.set_event_partstat(address, uid, partstat, recurrence_id))

    def _activate(self, candidate: Candidate, method: str, reason: str) -> None:
        if method == "otp-reply" and not candidate.spent:
            # The PW was spent elsewhere between the decision and the commit.
            self.store.audit("activation", "refused", "PW already spent", upn=candidate.address)
            return
        if activate_upn(self.store, candidate.address, method, reason):
            ACTIVATIONS.labels(method).inc()

    def signature_proves(self, candidate: Candidate, verdict: Verdict, parsed: ParsedMessage) -> bool:
        """Tell whether the signature is valid, by the pinned key, and from and for the invited address."""
        pinned = candidate.row.get("key_fingerprint")
        return (
            verdict.is_valid
            and bool(pinned)
            and str(verdict.fingerprint).upper() == str(pinned).upper()
            and parsed.from_address is not None
            and same_address(parsed.from_address, candidate.address)
        )

    def check_pw(self, candidate: Candidate, decision: Decision) -> bool:
        """Check the PW against the UPN's verifier state, and spend it when the decision commits.

        Any REPLY with a right PW spends the current challenge, activating or
        not. The spend runs inside the commit transaction and checks again
        there, so a crash before the commit leaves the PW usable for the
        repeated run, and a PW spent meanwhile at the HTTP side counts once.
        """
        state = verifier_state(candidate.row)
        pw = candidate.item.pw or ""
        if state is None:
            return False
        try:
            new_state = verify(state, pw)
        except OtpError:
            return False

        def spend() -> None:
            candidate.spent = spend_otp(self.store, candidate.address, pw) is not None

        decision.actions.append(spend)
        if current_challenge(new_state).sequence < self.settings.invitation.otp_refresh_below:
            mails, actions = self.invitations.refresh(candidate.address, "OTP sequence nearly used up")
            decision.outgoing += mails
            decision.actions += actions
        return True

    # --- relaying -----------------------------------------------------------------

    def relayed(
        self, message: SpooledMessage, opened: Opened, inner: ParsedMessage, strip_password: bool,
        mark_unverified: bool = False,
    ) -> list[Outgoing]:
        """The REPLY as it goes to the organizer: as received unless PW or encryption must go.

        A REPLY that proved nothing but is relayed (``unverified_reply =
        relay``) carries the verdict header, so the organizer can tell.
        """
        raw = message.raw
        if opened.decrypted or opened.unwrapped or (
            strip_password and (opened.signed_only or opened.verdict.status != "none")
        ):
            raw = build_relayed_reply(opened.content, message.raw, verdict_text(opened.verdict))
        elif mark_unverified:
            raw = f"{VERDICT_HEADER}: unverified REPLY; {verdict_text(opened.verdict)}\r\n".encode("ascii") + raw
        if strip_password:
            raw = strip_pw(raw, self.limits)
        has_invite = any(a.invite for o in inner.objects for a in o.attendees)
        return relay_copies(self.store, self.limits, mail_from=message.mail_from, rcpt_tos=message.rcpt_tos,
                            raw=raw, remove_invite=has_invite, calendar=True)

