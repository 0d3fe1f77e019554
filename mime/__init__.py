"""Pure message work on bytes and ``email.message.EmailMessage``; no I/O.

Finds iTIP objects in real-world mail, rewrites calendars for relay, builds
outbound mails, notices and DSNs, and the MIME shapes of signed and encrypted
mail around bytes the crypto layer returns.
"""

from mime.address import CalAddress, parse_cal_address, same_address
from mime.compose import build_held_notice, build_invitation_body
from mime.dsn import build_dsn
from mime.errors import (
    AmbiguousLine,
    InvalidValue,
    LimitExceeded,
    MalformedCalendar,
    MalformedMessage,
    MimeError,
    NotCalendar,
)
from mime.invitation import Invitation, build_invitation_component, parse_invitation
from mime.limits import Limits
from mime.model import Attendee, CalendarObject, CalendarPart, Organizer, ParsedMessage
from mime.outer import canonical_bytes, wrap_outer
from mime.reader import calendar_texts, read_message
from mime.relay import VERDICT_HEADER, build_relayed_reply, remove_verdict_headers
from mime.rewrite import RewriteResult, add_challenge, rewrite, strip_invite, strip_pw
from mime.signed import EncryptedEntity, SignedEntity, find_encrypted_entity, find_signed_entity, to_crlf
from mime.wrappers import build_pgp_encrypted, build_pgp_signed, build_smime_enveloped, build_smime_signed

__all__ = [
    "AmbiguousLine",
    "Attendee",
    "CalAddress",
    "CalendarObject",
    "CalendarPart",
    "EncryptedEntity",
    "Invitation",
    "InvalidValue",
    "LimitExceeded",
    "Limits",
    "MalformedCalendar",
    "MalformedMessage",
    "MimeError",
    "NotCalendar",
    "Organizer",
    "ParsedMessage",
    "RewriteResult",
    "SignedEntity",
    "VERDICT_HEADER",
    "add_challenge",
    "build_dsn",
    "build_held_notice",
    "build_invitation_body",
    "build_invitation_component",
    "build_pgp_encrypted",
    "build_pgp_signed",
    "build_relayed_reply",
    "build_smime_enveloped",
    "build_smime_signed",
    "calendar_texts",
    "canonical_bytes",
    "find_encrypted_entity",
    "find_signed_entity",
    "parse_cal_address",
    "parse_invitation",
    "read_message",
    "remove_verdict_headers",
    "rewrite",
    "same_address",
    "strip_invite",
    "strip_pw",
    "to_crlf",
    "wrap_outer",
]
