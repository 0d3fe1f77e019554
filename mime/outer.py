"""Outer headers of outbound mail, and the canonical bytes the crypto layer signs."""

from __future__ import annotations

import datetime
import email.policy
import email.utils
from email.message import EmailMessage

from mime.errors import InvalidValue

# CRLF line endings and lines within 78 characters: what SMTP carries unchanged.
SMTP_POLICY = email.policy.SMTP


def wrap_outer(
    entity: bytes,
    *,
    from_address: str,
    to: str,
    subject: str,
    message_id: str,
    date: datetime.datetime,
) -> bytes:
    """Put From, To, Subject, Date, Message-ID and MIME-Version above ``entity``.

    ``entity`` starts with its own Content-* header fields. Nothing here may
    hold a secret, so callers pass a generic subject.
    """
    headers = EmailMessage(policy=SMTP_POLICY)
    try:
        headers["From"] = from_address
        headers["To"] = to
        headers["Subject"] = subject
        headers["Date"] = email.utils.format_datetime(date)
        headers["Message-ID"] = message_id
    except (ValueError, TypeError, IndexError) as error:
        raise InvalidValue(f"invalid outer header value: {error}") from None

    block = headers.as_bytes().rstrip(b"\r\n") + b"\r\n"
    return block + b"MIME-Version: 1.0\r\n" + entity


def canonical_bytes(message: EmailMessage) -> bytes:
    """Serialise ``message`` as the bytes to sign: CRLF and only 7-bit-safe encodings.

    Leaves with an 8bit or binary transfer encoding are re-encoded as
    quoted-printable (text) or base64 (anything else) first, because a relay
    without 8BITMIME would convert them and break the signature.
    """
    for part in message.walk():
        if part.is_multipart():
            continue
        encoding = str(part.get("Content-Transfer-Encoding", "7bit")).lower()
        if encoding in ("8bit", "binary"):
            _reencode(part)
    return message.as_bytes(policy=SMTP_POLICY)


def _reencode(part: EmailMessage) -> None:
    # set_content clears every Content-* field, so the disposition is saved first.
    disposition = part.get_content_disposition()
    filename = part.get_filename()
    maintype, subtype = part.get_content_maintype(), part.get_content_subtype()
    params = {k: v for k, v in (part.get_params() or [])[1:] if k.lower() != "charset"}

    if maintype == "text":
        text = part.get_content()
        part.set_content(
            text, subtype=subtype, cte="quoted-printable", params=params,
            disposition=disposition, filename=filename,
        )
        return

    data = part.get_payload(decode=True)
    part.set_content(
        data, maintype=maintype, subtype=subtype, cte="base64", params=params,
        disposition=disposition, filename=filename,
    )
