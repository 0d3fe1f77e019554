"""The INVITATION component of draft-royer-calsch-dynamic-upn-02: emit and parse.

Emitted strictly: a VCALENDAR without METHOD (the draft defines none for
INVITATION) around one INVITATION with UID, SEQUENCE, DTSTAMP, TARGET,
ORGANIZER, ATTENDEE and, as configured, OTPKEY and URL. Parsed leniently:
the component may lack its VCALENDAR, TARGET may be written ``CAP:host``,
and ORGANIZER and ATTENDEE may have no scheme and may list several
comma-separated addresses.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from mime.address import CalAddress, parse_cal_address
from mime.calendar import Component, parse_calendar
from mime.contentline import ContentLine, serialize_lines
from mime.errors import InvalidValue, MalformedCalendar, NotCalendar
from mime.limits import Limits
from mime.unfold import decode_calendar_bytes

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SHORT_CAP_TARGET = re.compile(r"cap:(?!//)(.+)", re.IGNORECASE)
_NEEDS_QUOTES = re.compile(r'[;:,]')


@dataclass(frozen=True)
class Invitation:
    """A parsed INVITATION; ``target`` is normalised to ``cap://host[/calid]`` form."""

    uid: str | None
    sequence: int
    dtstamp: str | None
    target: str
    target_original: str
    organizers: tuple[CalAddress, ...]
    organizer_cn: str | None
    attendees: tuple[CalAddress, ...]
    otpkey: str | None
    url: str | None


def build_invitation_component(
    *,
    uid: str,
    dtstamp: datetime.datetime,
    target: str,
    organizer: str,
    organizer_cn: str | None,
    attendee: str,
    otpkey: str | None,
    url: str | None,
    prodid: str,
    sequence: int = 0,
) -> bytes:
    """Write the VCALENDAR holding one INVITATION, as UTF-8 with CRLF and 75-octet folds.

    ``organizer`` and ``attendee`` are mail addresses or CAL-ADDRESS URIs.
    ``dtstamp`` must be timezone-aware; it is written in UTC.
    """
    for name, value in (("uid", uid), ("target", target), ("prodid", prodid), ("otpkey", otpkey), ("url", url)):
        _check_value(name, value)
    if dtstamp.tzinfo is None:
        raise InvalidValue("dtstamp must be timezone-aware")

    organizer_parameters = f";CN={_parameter_value(organizer_cn)}" if organizer_cn else ""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{prodid}",
        "BEGIN:INVITATION",
        f"UID:{uid}",
        f"SEQUENCE:{sequence}",
        f"DTSTAMP:{dtstamp.astimezone(datetime.timezone.utc):%Y%m%dT%H%M%SZ}",
        f"TARGET:{target}",
        f"ORGANIZER{organizer_parameters}:{_uri(organizer)}",
        f"ATTENDEE:{_uri(attendee)}",
    ]
    if otpkey is not None:
        lines.append(f"OTPKEY:{otpkey}")
    if url is not None:
        lines.append(f"URL:{url}")
    lines += ["END:INVITATION", "END:VCALENDAR"]
    return serialize_lines(lines)


def parse_invitation(data: bytes, limits: Limits | None = None) -> Invitation:
    """Read an INVITATION from calendar bytes; raise NotCalendar or MalformedCalendar."""
    decoded = decode_calendar_bytes(data, None)
    tree = parse_calendar(decoded.lines, limits or Limits())
    component = _find_invitation(tree)

    target_line = component.first("TARGET")
    if target_line is None or not target_line.value.strip():
        raise MalformedCalendar("INVITATION has no TARGET")
    organizer_lines = component.properties("ORGANIZER")

    return Invitation(
        uid=_value(component.first("UID")),
        sequence=_sequence(component),
        dtstamp=_value(component.first("DTSTAMP")),
        target=_normalize_target(target_line.value.strip()),
        target_original=target_line.value.strip(),
        organizers=_addresses(organizer_lines),
        organizer_cn=organizer_lines[0].first_value("CN") if organizer_lines else None,
        attendees=_addresses(component.properties("ATTENDEE")),
        otpkey=_lower(_value(component.first("OTPKEY"))),
        url=_value(component.first("URL")),
    )


def _find_invitation(tree: Component) -> Component:
    candidates = tree.subcomponents("INVITATION")
    for calendar in tree.subcomponents("VCALENDAR"):
        candidates += calendar.subcomponents("INVITATION")
    if not candidates:
        raise NotCalendar("no INVITATION component found")
    if len(candidates) > 1:
        raise MalformedCalendar(f"{len(candidates)} INVITATION components found; expected one")
    return candidates[0]


def _addresses(lines: list[ContentLine]) -> tuple[CalAddress, ...]:
    return tuple(
        parse_cal_address(item)
        for line in lines
        for item in line.value.split(",")
        if item.strip()
    )


def _sequence(component: Component) -> int:
    text = _value(component.first("SEQUENCE"))
    if text is None:
        return 0
    try:
        return int(text)
    except ValueError:
        raise MalformedCalendar(f"INVITATION has an invalid SEQUENCE {text!r}") from None


def _normalize_target(value: str) -> str:
    match = _SHORT_CAP_TARGET.fullmatch(value)
    if match is None:
        return value
    return f"cap://{match.group(1)}"


def _uri(address: str) -> str:
    _check_value("address", address)
    return parse_cal_address(address).uri


def _parameter_value(value: str) -> str:
    """Quote a parameter value when needed; a double quote becomes ^' (RFC 6868)."""
    _check_value("CN", value)
    value = value.replace("^", "^^").replace('"', "^'")
    return f'"{value}"' if _NEEDS_QUOTES.search(value) else value


def _check_value(name: str, value: str | None) -> None:
    if value is not None and (not value.strip() or _CONTROL.search(value)):
        raise InvalidValue(f"{name} {value!r} is empty or contains control characters")


def _value(line: ContentLine | None) -> str | None:
    if line is None:
        return None
    return line.value.strip() or None


def _lower(value: str | None) -> str | None:
    return value.lower() if value else None
