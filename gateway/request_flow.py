"""REQUEST with INVITE attendees: which attendees become dynamic UPNs, and how it is relayed.

Only a trusted client (by network or SMTP AUTH) may ask for invitations;
from anyone else INVITE is removed and logged and nothing is created, or
anyone reaching the MX path could make the gateway mail arbitrary people.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from gateway.accounts import Accounts
from gateway.decision import Decision
from gateway.invitations import EventInfo, Invitations
from gateway.logs import event, get_logger
from gateway.relay_copies import relay_copies
from gateway.settings import Settings
from mime import Attendee, CalendarObject, Limits, ParsedMessage, calendar_texts
from store.db import Store
from store.spool import SpooledMessage

log = get_logger("pipeline")


@dataclass(frozen=True)
class InviteRequest:
    """One attendee marked INVITE=TRUE in one object of the REQUEST."""

    attendee: Attendee
    item: CalendarObject
    event_info: EventInfo


def invite_requests(raw: bytes, parsed: ParsedMessage, limits: Limits) -> dict[str, list[InviteRequest]]:
    """Group the INVITE=TRUE attendees of a REQUEST by normalised address, in document order."""
    texts = calendar_texts(raw, limits) if any(a.invite for o in parsed.objects for a in o.attendees) else []
    found: dict[str, list[InviteRequest]] = {}
    for item in parsed.objects:
        if item.method != "REQUEST" or not item.uid:
            continue
        calendar = next((text for text in texts if f"UID:{item.uid}" in text), texts[0] if texts else None)
        info = EventInfo(item.uid, item.recurrence_id or "", item.sequence or 0, item.summary, item.start, calendar)
        for attendee in item.attendees:
            if attendee.invite and attendee.address.is_mail:
                found.setdefault(attendee.address.address, []).append(InviteRequest(attendee, item, info))
    return found


def printable(text: str | None) -> str | None:
    """Replace control characters (a TAB in a CN, say) with spaces for text the gateway writes itself."""
    if text is None:
        return None
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip() or None


class RequestFlow:
    def __init__(self, settings: Settings, store: Store, invitations: Invitations, limits: Limits) -> None:
        self.settings = settings
        self.store = store
        self.invitations = invitations
        self.limits = limits
        self.accounts = Accounts(settings)

    def handle(self, message: SpooledMessage, parsed: ParsedMessage) -> Decision:
        decision = Decision()
        requests = invite_requests(message.raw, parsed, self.limits)
        has_invite = any(a.invite for o in parsed.objects for a in o.attendees)
        challenges: dict[str, str] = {}

        if requests and not message.trusted:
            for address in requests:
                decision.audit.append(("invitation", "ignored", "INVITE from an untrusted client removed", address))
            event(log, logging.WARNING, "invite-ignored", queue_id=message.id, peer=message.peer,
                  reason="untrusted client", count=len(requests))
        elif requests:
            for address, items in requests.items():
                challenge = self.decide(address, items, decision, message)
                if challenge:
                    challenges[address] = challenge

        decision.outgoing += relay_copies(
            self.store, self.limits, mail_from=message.mail_from, rcpt_tos=message.rcpt_tos, raw=message.raw,
            remove_invite=has_invite, calendar=True, pending_challenges=challenges,
        )
        return decision

    def decide(self, address: str, items: list[InviteRequest], decision: Decision,
               message: SpooledMessage) -> str | None:
        """Decide one invited address; returns the challenge of a newly keyed UPN."""
        first = items[0]
        if self.accounts.has_static_account(address):
            decision.audit.append(("invitation", "ignored", "the address already has an account", address))
            return None

        row = self.store.get_upn(address)
        state = row["state"] if row else None
        if state in ("invited", "held", "active"):
            # An existing UPN sends no new key; the event is linked for its lifecycle.
            decision.actions += [self.invitations.link_event(address, item.event_info) for item in items]
            return None
        if state == "revoked" and not self.settings.invitation.reinvite_revoked:
            decision.audit.append(("invitation", "ignored", "revoked UPN; [invitation] reinvite_revoked = false",
                                   address))
            return None

        organizer = first.item.organizer
        result = self.invitations.invite(
            address=address, original=first.attendee.address.original,
            organizer=organizer.address.uri if organizer else f"mailto:{message.mail_from}",
            organizer_cn=printable(organizer.cn) if organizer else None, event_info=first.event_info, existing=row,
        )
        decision.outgoing += result.outgoing
        decision.actions += result.actions
        decision.actions += [self.invitations.link_event(address, item.event_info) for item in items[1:]]
        return result.challenge
