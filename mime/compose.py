"""The INVITATION mail body and the notice to an organizer whose invitation is held."""

from __future__ import annotations

import datetime
import email.utils
import html
from email.message import EmailMessage

from mime.address import parse_cal_address
from mime.errors import InvalidValue
from mime.outer import SMTP_POLICY


def build_invitation_body(
    *,
    organizer: str,
    organizer_cn: str | None,
    attendee: str,
    summary: str | None,
    start: str | None,
    target: str,
    otpkey: str | None,
    url: str | None,
    invitation_component: bytes,
) -> EmailMessage:
    """Build the multipart/alternative explaining to the attendee how to join, before signing.

    The parts are text/plain, text/html and the INVITATION as text/calendar.
    ``start`` is the event's start as the attendee should read it. Every
    part is quoted-printable, so ``canonical_bytes`` needs no re-encoding.
    """
    if otpkey is None and url is None:
        raise InvalidValue("an invitation needs an OTPKEY, a URL or both")

    paragraphs = _invitation_paragraphs(organizer, organizer_cn, attendee, summary, start, target, otpkey, url)
    message = EmailMessage(policy=SMTP_POLICY)
    message.set_content("\n\n".join(paragraphs) + "\n", subtype="plain", cte="quoted-printable")
    message.add_alternative(_html(paragraphs), subtype="html", cte="quoted-printable")
    message.add_alternative(
        invitation_component.decode("utf-8"),
        subtype="calendar",
        params={"component": "INVITATION"},
        cte="quoted-printable",
    )

    # The body is an inner entity that gets signed and encrypted; only the
    # outermost headers carry MIME-Version.
    del message["MIME-Version"]
    return message


def _invitation_paragraphs(
    organizer: str,
    organizer_cn: str | None,
    attendee: str,
    summary: str | None,
    start: str | None,
    target: str,
    otpkey: str | None,
    url: str | None,
) -> list[str]:
    inviter = _person(organizer, organizer_cn)
    event = f'"{summary}"' if summary else "an event"
    when = f", starting {start}" if start else ""
    paragraphs = [
        "Hello,",
        f"{inviter} has invited you ({parse_cal_address(attendee).address}) to {event}{when}. "
        f"The event is kept on the calendar system at {target}, where you have no account yet. "
        "This message gives you one.",
    ]
    if url is not None:
        paragraphs.append(
            "To join, open this link and choose a password. It works once and expires after a while:\n"
            f"{url}"
        )
    if otpkey is not None:
        paragraphs.append(
            f"Your one-time password key (OTPKEY) is:\n{otpkey}\n"
            "A calendar program that supports dynamic accounts stores it and uses it to answer the "
            "challenge in the invitations you receive, which proves that your replies come from you. "
            "Keep it secret: anyone who has it can answer in your name."
        )
    paragraphs.append("If you did not expect this invitation, you can ignore this message.")
    return paragraphs


def _html(paragraphs: list[str]) -> str:
    blocks = [f"<p>{html.escape(text).replace(chr(10), '<br>')}</p>" for text in paragraphs]
    return "<!DOCTYPE html>\n<html><body>\n" + "\n".join(blocks) + "\n</body></html>\n"


def build_held_notice(
    *,
    from_address: str,
    organizer: str,
    attendee: str,
    summary: str | None,
    message_id: str,
    date: datetime.datetime,
) -> EmailMessage:
    """Build the notice telling an organizer that an attendee's invitation waits for a key.

    It names no secret: the OTPKEY and the URL never leave the gateway in clear.
    """
    attendee_address = parse_cal_address(attendee).address
    event = f'"{summary}"' if summary else "your event"
    text = (
        f"The invitation that would give {attendee_address} an account for {event} is held.\n\n"
        f"The gateway has no S/MIME certificate or OpenPGP key for {attendee_address}, and it sends "
        "the join secrets only encrypted. It sends the invitation as soon as an operator imports a "
        "certificate or key for that address.\n\n"
        "The event itself was relayed as usual.\n"
    )
    message = EmailMessage(policy=SMTP_POLICY)
    try:
        message["From"] = from_address
        message["To"] = parse_cal_address(organizer).address
        message["Subject"] = f"Invitation held for {attendee_address}"
        message["Date"] = email.utils.format_datetime(date)
        message["Message-ID"] = message_id
        message["Auto-Submitted"] = "auto-generated"
    except (ValueError, TypeError, IndexError) as error:
        raise InvalidValue(f"invalid header value for the held notice: {error}") from None
    message.set_content(text, cte="quoted-printable")
    return message


def _person(address: str, name: str | None) -> str:
    plain = parse_cal_address(address).address
    return f"{name} <{plain}>" if name else plain
