"""Mail fetched over IMAP enters the pipeline like untrusted SMTP mail.

A polled mail has no SMTP envelope, so one is made from its headers: the
sender from Return-Path (else From), the recipients from To and Cc. Only
recipients in ``[calendar] local_domains`` are kept, the rule for any
untrusted SMTP client, so a mailbox anyone can write to is no open relay.
"""

from __future__ import annotations

import email.policy
import email.utils
from email.parser import BytesHeaderParser

from gateway.settings import Settings

_PARSER = BytesHeaderParser(policy=email.policy.compat32)


def envelope_from_headers(raw: bytes, settings: Settings) -> tuple[str, list[str]]:
    """Return (mail_from, rcpt_tos) for a polled mail; rcpt_tos may be empty."""
    headers = _PARSER.parsebytes(raw)
    senders = email.utils.getaddresses(headers.get_all("Return-Path", []) or headers.get_all("From", []))
    mail_from = next((address for _, address in senders if "@" in address), "")

    own = settings.imap.username.lower()
    local = set(settings.calendar.local_domains)
    rcpt_tos: list[str] = []
    for _, address in email.utils.getaddresses(headers.get_all("To", []) + headers.get_all("Cc", [])):
        domain = address.rpartition("@")[2].lower()
        if "@" in address and domain in local and address.lower() != own and address not in rcpt_tos:
            rcpt_tos.append(address)
    return mail_from, rcpt_tos
