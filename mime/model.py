"""Reader results: a message's iTIP objects and the facts the gateway acts on."""

from __future__ import annotations

from dataclasses import dataclass, field

from mime.address import CalAddress


@dataclass(frozen=True)
class Attendee:
    """An ATTENDEE property; ``invite`` is true only for INVITE=TRUE in any case."""

    address: CalAddress
    invite: bool
    partstat: str | None
    cn: str | None
    sent_by: CalAddress | None
    delegated_to: tuple[CalAddress, ...]
    params: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Organizer:
    """An ORGANIZER property."""

    address: CalAddress
    cn: str | None
    sent_by: CalAddress | None
    params: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class CalendarObject:
    """One VEVENT, VTODO, VJOURNAL or VFREEBUSY of an iTIP calendar.

    ``pw`` and ``challenge`` are the raw values of the PW and CHALLENGE
    properties when present. ``start`` is DTSTART's value as written and
    ``start_tzid`` its TZID parameter.
    """

    component: str
    method: str | None
    uid: str | None
    sequence: int | None
    recurrence_id: str | None
    organizer: Organizer | None
    attendees: tuple[Attendee, ...]
    summary: str | None
    start: str | None
    start_tzid: str | None
    pw: str | None
    challenge: str | None
    has_alarm: bool

    @property
    def key(self) -> tuple[str, str | None, int | None, str | None]:
        return (self.component, self.uid, self.sequence, self.recurrence_id)


@dataclass(frozen=True)
class CalendarPart:
    """A MIME part containing calendar data, located in the message.

    ``path`` lists child indexes from the root (empty for a message that is
    a calendar itself). ``start`` and ``end`` delimit the part's bytes,
    headers included, in the message the reader was given. A part whose
    objects repeat an earlier part's (an application/ics copy) has
    ``duplicate_of`` set to that part's path. ``signed`` is true when the
    part lies inside the content of a root multipart/signed.
    """

    path: tuple[int, ...]
    content_type: str
    filename: str | None
    start: int
    end: int
    method: str | None
    content_type_method: str | None
    charset: str
    signed: bool
    duplicate_of: tuple[int, ...] | None = None


@dataclass(frozen=True)
class ParsedMessage:
    """Everything the reader found in a message.

    ``method`` is the METHOD of the first calendar object; ``objects``
    contains the components of every calendar part that is not a duplicate.
    ``encrypted`` is true when the root is S/MIME enveloped-data or PGP/MIME
    encrypted, in which case nothing inside could be read.
    """

    message_id: str | None
    from_address: str | None
    from_addresses: tuple[str, ...]
    method: str | None
    objects: tuple[CalendarObject, ...]
    calendar_parts: tuple[CalendarPart, ...]
    encrypted: bool
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_calendar(self) -> bool:
        return bool(self.objects)
