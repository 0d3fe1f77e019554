"""Facts of iTIP objects: METHOD, UID, ORGANIZER, ATTENDEEs and their oddities."""

from __future__ import annotations

from mime.address import CalAddress, parse_cal_address
from mime.calendar import Component
from mime.contentline import ContentLine
from mime.model import Attendee, CalendarObject, Organizer

# Components that carry scheduling data; VTIMEZONE and X-components do not.
OBJECT_COMPONENTS = frozenset({"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"})


def calendar_method(calendar: Component) -> str | None:
    line = calendar.first("METHOD")
    return line.value.strip().upper() if line and line.value.strip() else None


def read_objects(calendar: Component, problems: list[str], fallback_method: str | None = None) -> list[CalendarObject]:
    """Read the scheduling components of one VCALENDAR, reporting what is odd.

    ``fallback_method`` is used when the VCALENDAR has no METHOD property.
    """
    method = calendar_method(calendar) or fallback_method
    objects = [
        _read_object(component, method, problems)
        for component in calendar.subcomponents()
        if component.name in OBJECT_COMPONENTS
    ]
    if method == "REPLY":
        for item in objects:
            _check_reply(item, problems)
    if method == "REQUEST":
        for item in objects:
            if item.organizer is None:
                problems.append(f"REQUEST {item.component} {item.uid} has no ORGANIZER")
    return objects


def _read_object(component: Component, method: str | None, problems: list[str]) -> CalendarObject:
    uid = _text_value(component.first("UID"))
    label = f"{component.name} {uid}"
    if uid is None:
        problems.append(f"{component.name} without UID")

    start = component.first("DTSTART")
    return CalendarObject(
        component=component.name,
        method=method,
        uid=uid,
        sequence=_read_sequence(component, label, problems),
        recurrence_id=_text_value(component.first("RECURRENCE-ID")),
        organizer=_read_organizer(component, label, problems),
        attendees=_read_attendees(component, label, problems),
        summary=_unescape_text(_text_value(component.first("SUMMARY"))),
        start=_text_value(start),
        start_tzid=start.first_value("TZID") if start else None,
        pw=_text_value(component.first("PW")),
        challenge=_text_value(component.first("CHALLENGE")),
        has_alarm=bool(component.subcomponents("VALARM")),
    )


def _read_sequence(component: Component, label: str, problems: list[str]) -> int | None:
    text = _text_value(component.first("SEQUENCE"))
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        problems.append(f"{label} has an invalid SEQUENCE {text!r}")
        return None


def _read_organizer(component: Component, label: str, problems: list[str]) -> Organizer | None:
    lines = component.properties("ORGANIZER")
    if len(lines) > 1:
        problems.append(f"{label} has {len(lines)} ORGANIZER properties; the first is used")
    if not lines:
        return None

    line = lines[0]
    if line.ambiguous:
        problems.append(_ambiguous_message(label, line))
        return None
    return Organizer(
        address=parse_cal_address(line.value),
        cn=line.first_value("CN"),
        sent_by=_optional_address(line.first_value("SENT-BY")),
        params=_parameter_map(line),
    )


def _read_attendees(component: Component, label: str, problems: list[str]) -> tuple[Attendee, ...]:
    attendees = []
    for line in component.properties("ATTENDEE"):
        if line.ambiguous:
            problems.append(_ambiguous_message(label, line))
            continue
        attendees.append(_read_attendee(line, label, problems))
    return tuple(attendees)


def _read_attendee(line: ContentLine, label: str, problems: list[str]) -> Attendee:
    address = parse_cal_address(line.value)
    return Attendee(
        address=address,
        invite=_read_invite(line, address, label, problems),
        partstat=_upper(line.first_value("PARTSTAT")),
        cn=line.first_value("CN"),
        sent_by=_optional_address(line.first_value("SENT-BY")),
        delegated_to=_addresses_of(line, "DELEGATED-TO"),
        params=_parameter_map(line),
    )


def _read_invite(line: ContentLine, address: CalAddress, label: str, problems: list[str]) -> bool:
    parameter = line.parameter("INVITE")
    if parameter is None:
        return False
    value = parameter.values[0].strip().upper() if parameter.values else ""
    if value not in ("TRUE", "FALSE"):
        problems.append(f"{label}: ATTENDEE {address.original} has INVITE={value!r}, which is neither TRUE nor FALSE")
    return value == "TRUE"


def _check_reply(item: CalendarObject, problems: list[str]) -> None:
    label = f"REPLY {item.component} {item.uid}"
    if item.organizer is None:
        problems.append(f"{label} has no ORGANIZER")
    if item.has_alarm:
        problems.append(f"{label} contains a VALARM, which a REPLY should not carry")
    if len(item.attendees) != 1:
        problems.append(f"{label} has {len(item.attendees)} ATTENDEEs instead of one")


def _ambiguous_message(label: str, line: ContentLine) -> str:
    return (
        f"{label}: {line.name} line is ambiguous because an unquoted parameter value "
        f"contains a colon; the line is ignored: {line.to_text()!r}"
    )


def _parameter_map(line: ContentLine) -> dict[str, tuple[str, ...]]:
    return {parameter.name: parameter.values for parameter in line.parameters}


def _addresses_of(line: ContentLine, name: str) -> tuple[CalAddress, ...]:
    parameter = line.parameter(name)
    if parameter is None:
        return ()
    return tuple(parse_cal_address(value) for value in parameter.values)


def _optional_address(value: str | None) -> CalAddress | None:
    return parse_cal_address(value) if value else None


def _text_value(line: ContentLine | None) -> str | None:
    if line is None:
        return None
    value = line.value.strip()
    return value or None


def _upper(value: str | None) -> str | None:
    return value.upper() if value else None


def _unescape_text(value: str | None) -> str | None:
    """Undo RFC 5545 TEXT escapes (backslash before comma, semicolon, backslash, n)."""
    if value is None:
        return None
    output: list[str] = []
    characters = iter(value)
    for character in characters:
        if character != "\\":
            output.append(character)
            continue
        following = next(characters, "")
        output.append("\n" if following in ("n", "N") else following)
    return "".join(output)
