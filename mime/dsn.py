"""Delivery status notifications (RFC 3464) for mail the gateway could not deliver."""

from __future__ import annotations

import datetime
import email.utils
import re

from mime.errors import InvalidValue
from mime.relay import split_header_block
from mime.wrappers import new_boundary

_LINE_BREAK = re.compile(rb"\r*\n")
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")

# Diagnostic-Code lines must stay within SMTP's 998-octet line limit.
_MAX_DIAGNOSTIC = 900


def build_dsn(
    original_headers: bytes,
    *,
    envelope_from: str,
    recipient: str,
    status: str,
    diagnostic: str,
    reporting_mta: str,
    message_id: str,
    date: datetime.datetime,
    arrival_date: datetime.datetime | None = None,
) -> bytes:
    """Build a multipart/report DSN to ``envelope_from`` about one recipient.

    ``status`` is an RFC 3463 code; a 4.x.x code reports a delay, any other
    a failure. ``original_headers`` may be the whole original message, of
    which only the header block is returned. The caller sends the DSN with
    an empty envelope sender so that it never causes another DSN.
    """
    if not _STATUS.fullmatch(status):
        raise InvalidValue(f"status {status!r} is not an RFC 3463 code such as 5.1.1")
    for name, value in (("envelope_from", envelope_from), ("recipient", recipient), ("reporting_mta", reporting_mta)):
        if not value or _NOT_PRINTABLE.search(value):
            raise InvalidValue(f"{name} {value!r} is empty or not printable ASCII")

    delayed = status.startswith("4")
    parts = [
        _human_part(recipient, diagnostic, reporting_mta, delayed),
        _status_part(recipient, status, diagnostic, reporting_mta, arrival_date, delayed),
        _headers_part(original_headers),
    ]
    boundary = new_boundary(parts)
    headers = _top_headers(envelope_from, reporting_mta, message_id, date, delayed, boundary)

    body = b""
    for part in parts:
        body += b"--" + boundary.encode("ascii") + b"\r\n" + part + b"\r\n"
    return headers + b"\r\n" + body + b"--" + boundary.encode("ascii") + b"--\r\n"


def _top_headers(
    envelope_from: str, reporting_mta: str, message_id: str, date: datetime.datetime, delayed: bool, boundary: str
) -> bytes:
    subject = "Delayed mail (still being retried)" if delayed else "Undelivered mail returned to sender"
    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>",
        f"To: {envelope_from}",
        f"Subject: {subject}",
        f"Date: {email.utils.format_datetime(date)}",
        f"Message-ID: {_one_line(message_id)}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status;\r\n boundary="{boundary}"',
    ]
    return "".join(line + "\r\n" for line in lines).encode("ascii")


def _human_part(recipient: str, diagnostic: str, reporting_mta: str, delayed: bool) -> bytes:
    if delayed:
        summary = f"Your message to {recipient} has not been delivered yet. {reporting_mta} keeps trying."
    else:
        summary = f"Your message to {recipient} could not be delivered. {reporting_mta} has given up."
    text = f"{summary}\r\n\r\nThe last error was: {_clean_diagnostic(diagnostic)}\r\n"
    return b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + text.encode("ascii")


def _status_part(
    recipient: str,
    status: str,
    diagnostic: str,
    reporting_mta: str,
    arrival_date: datetime.datetime | None,
    delayed: bool,
) -> bytes:
    message_fields = [f"Reporting-MTA: dns; {reporting_mta}"]
    if arrival_date is not None:
        message_fields.append(f"Arrival-Date: {email.utils.format_datetime(arrival_date)}")
    recipient_fields = [
        f"Final-Recipient: rfc822; {recipient}",
        f"Action: {'delayed' if delayed else 'failed'}",
        f"Status: {status}",
        f"Diagnostic-Code: smtp; {_clean_diagnostic(diagnostic)}",
    ]
    text = "\r\n".join(message_fields) + "\r\n\r\n" + "\r\n".join(recipient_fields) + "\r\n"
    return b"Content-Type: message/delivery-status\r\n\r\n" + text.encode("ascii")


def _headers_part(original: bytes) -> bytes:
    block, _ = split_header_block(original)
    block = _LINE_BREAK.sub(b"\r\n", block)
    return b"Content-Type: text/rfc822-headers\r\n\r\n" + block.rstrip(b"\r\n")


def _clean_diagnostic(diagnostic: str) -> str:
    """Keep a remote server's text on one printable ASCII line, because it is not ours to trust."""
    cleaned = _NOT_PRINTABLE.sub(" ", diagnostic).strip() or "no diagnostic given"
    return cleaned[:_MAX_DIAGNOSTIC]


def _one_line(value: str) -> str:
    if _NOT_PRINTABLE.search(value):
        raise InvalidValue(f"header value {value!r} is not printable ASCII on one line")
    return value
