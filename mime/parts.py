"""Detection of MIME parts with calendar data, and decoding of their content lines."""

from __future__ import annotations

from dataclasses import dataclass

from mime.calendar import Component, parse_calendar
from mime.limits import Limits
from mime.rawmime import RawPart, iter_parts
from mime.transfer import decode_transfer_encoding
from mime.unfold import DecodedText, decode_calendar_bytes

CALENDAR_TYPES = frozenset({"text/calendar", "application/ics", "text/x-vcalendar"})
TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})


@dataclass(frozen=True)
class CalendarContent:
    """A calendar part's decoded lines and its component tree."""

    decoded: DecodedText
    tree: Component


def is_calendar_part(part: RawPart) -> bool:
    """Tell whether a leaf contains calendar data.

    Some clients attach the object as application/octet-stream named
    ``*.ics``; it counts as calendar data too.
    """
    if part.is_multipart:
        return False
    if part.content_type in CALENDAR_TYPES:
        return True
    filename = (part.filename or "").lower()
    return part.content_type == "application/octet-stream" and filename.endswith(".ics")


def is_tnef_part(part: RawPart) -> bool:
    return part.content_type in TNEF_TYPES or (part.filename or "").lower() == "winmail.dat"


def calendar_parts(root: RawPart) -> list[RawPart]:
    """List the calendar leaves of a tree in document order."""
    return [part for part in iter_parts(root) if is_calendar_part(part)]


def part_content(raw: bytes, part: RawPart) -> bytes:
    """Return a leaf's body with its transfer encoding undone."""
    return decode_transfer_encoding(raw[part.body_start:part.end], part.transfer_encoding)


def read_calendar_content(raw: bytes, part: RawPart, limits: Limits) -> CalendarContent:
    """Decode and parse one calendar part; raises NotCalendar or MalformedCalendar."""
    decoded = decode_calendar_bytes(part_content(raw, part), part.param("charset"))
    return CalendarContent(decoded, parse_calendar(decoded.lines, limits))
