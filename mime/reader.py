"""Read a mail into the iTIP facts the gateway acts on."""

from __future__ import annotations

import email.utils

from mime.calendar import Component
from mime.errors import MalformedCalendar, NotCalendar
from mime.itip import calendar_method, read_objects
from mime.limits import Limits
from mime.model import CalendarObject, CalendarPart, ParsedMessage
from mime.parts import CalendarContent, calendar_parts, is_tnef_part, read_calendar_content
from mime.rawmime import RawPart, collect_problems, describe_path, iter_parts, parse_mime
from mime.structure import encryption_kind, is_opaque_signed, signed_content_path


def read_message(raw: bytes, limits: Limits | None = None) -> ParsedMessage:
    """Find every iTIP object in ``raw`` and report what is odd about the mail.

    Raises only MimeError subclasses: LimitExceeded when the message is past
    one of ``limits``, MalformedMessage when its structure is unreadable. A
    calendar part that cannot be read is reported in ``problems`` instead.
    """
    limits = limits or Limits()
    root = parse_mime(raw, limits)
    problems = collect_problems(root)
    message_id, from_addresses = _read_headers(root, problems)
    encrypted = encryption_kind(root) is not None

    parts, objects = _read_calendar_parts(raw, root, limits, problems)
    _report_shape(root, encrypted, bool(parts), problems)
    method = next((part.method for part in parts if part.duplicate_of is None), None)
    _check_methods(parts, method, problems)

    return ParsedMessage(
        message_id=message_id,
        from_address=from_addresses[0] if len(from_addresses) == 1 else None,
        from_addresses=from_addresses,
        method=method,
        objects=tuple(objects),
        calendar_parts=tuple(parts),
        encrypted=encrypted,
        problems=tuple(problems),
    )


def _read_headers(root: RawPart, problems: list[str]) -> tuple[str | None, tuple[str, ...]]:
    message_id = root.headers.get("Message-ID")
    message_id = str(message_id).strip() if message_id is not None else None

    from_fields = [str(value) for value in root.headers.get_all("From", [])]
    addresses = tuple(address for _, address in email.utils.getaddresses(from_fields) if address)
    if len(addresses) != 1:
        problems.append(f"the message has {len(addresses)} From addresses instead of one")
    return message_id or None, addresses


def _read_calendar_parts(
    raw: bytes, root: RawPart, limits: Limits, problems: list[str]
) -> tuple[list[CalendarPart], list[CalendarObject]]:
    signed_path = signed_content_path(root)
    parts: list[CalendarPart] = []
    objects: list[CalendarObject] = []
    seen: dict[tuple[object, ...], tuple[tuple[int, ...], tuple[CalendarObject, ...]]] = {}

    for leaf in calendar_parts(root):
        where = f"calendar part {describe_path(leaf.path)}"
        try:
            content = read_calendar_content(raw, leaf, limits)
        except (NotCalendar, MalformedCalendar) as error:
            problems.append(f"{where} is unreadable: {error}")
            continue

        problems.extend(f"{where}: {problem}" for problem in content.decoded.problems)
        method = _resolve_method(content, leaf, where, problems)
        part_objects = tuple(_read_tree_objects(content.tree, method, where, problems))
        if not part_objects:
            problems.append(f"{where} holds no VEVENT, VTODO, VJOURNAL or VFREEBUSY")

        duplicate_of = _find_duplicate(seen, part_objects, where, problems)
        if duplicate_of is None:
            seen[tuple(item.key for item in part_objects)] = (leaf.path, part_objects)
            objects.extend(part_objects)

        signed = signed_path is not None and leaf.path[: len(signed_path)] == signed_path
        parts.append(_describe_part(leaf, content, method, signed, duplicate_of))
    return parts, objects


def _read_tree_objects(tree: Component, method: str | None, where: str, problems: list[str]) -> list[CalendarObject]:
    calendars = tree.subcomponents("VCALENDAR")
    if not calendars:
        problems.append(f"{where} has components without a VCALENDAR around them")
        calendars = [tree]

    found: list[CalendarObject] = []
    for calendar in calendars:
        found.extend(read_objects(calendar, problems, method))
    return found


def _resolve_method(content: CalendarContent, leaf: RawPart, where: str, problems: list[str]) -> str | None:
    calendars = content.tree.subcomponents("VCALENDAR")
    method = calendar_method(calendars[0]) if calendars else None
    declared = leaf.param("method")
    declared = declared.strip().upper() if declared else None

    if method is None and declared is not None:
        problems.append(f"{where} has no METHOD in its object; the Content-Type says {declared}")
        return declared
    if method is None:
        problems.append(f"{where} has no METHOD")
    elif declared is not None and declared != method:
        problems.append(f"{where}: Content-Type method={declared} contradicts METHOD:{method}; METHOD is used")
    return method


def _find_duplicate(
    seen: dict[tuple[object, ...], tuple[tuple[int, ...], tuple[CalendarObject, ...]]],
    part_objects: tuple[CalendarObject, ...],
    where: str,
    problems: list[str],
) -> tuple[int, ...] | None:
    if not part_objects:
        return None
    earlier = seen.get(tuple(item.key for item in part_objects))
    if earlier is None:
        return None
    path, earlier_objects = earlier
    if earlier_objects != part_objects:
        problems.append(
            f"{where} repeats the objects of calendar part {describe_path(path)} with different "
            f"content; the first part is used"
        )
    return path


def _describe_part(
    leaf: RawPart,
    content: CalendarContent,
    method: str | None,
    signed: bool,
    duplicate_of: tuple[int, ...] | None,
) -> CalendarPart:
    declared = leaf.param("method")
    return CalendarPart(
        path=leaf.path,
        content_type=leaf.content_type,
        filename=leaf.filename,
        start=leaf.start,
        end=leaf.end,
        method=method,
        content_type_method=declared.strip().upper() if declared else None,
        charset=content.decoded.charset,
        signed=signed,
        duplicate_of=duplicate_of,
    )


def _report_shape(root: RawPart, encrypted: bool, found_calendar: bool, problems: list[str]) -> None:
    if encrypted:
        problems.append("the message is encrypted; its content is read only after decryption")
    if is_opaque_signed(root):
        problems.append("the message is S/MIME signed-data; its content is read only after verification")
    for part in iter_parts(root)[1:]:
        if part.content_type == "multipart/signed":
            problems.append(
                f"multipart/signed part {describe_path(part.path)} is not the root, so it signs nothing"
            )
    if not found_calendar and any(is_tnef_part(part) for part in iter_parts(root)):
        problems.append("the message carries only an Exchange TNEF attachment (winmail.dat); it is not read")


def _check_methods(parts: list[CalendarPart], method: str | None, problems: list[str]) -> None:
    others = {part.method for part in parts if part.duplicate_of is None and part.method != method}
    if others:
        listed = ", ".join(sorted(str(other) for other in others))
        problems.append(f"calendar parts disagree on METHOD: {method} and {listed}; {method} is used")


def calendar_texts(raw: bytes, limits: Limits | None = None) -> list[str]:
    """Return each readable calendar part of ``raw`` as decoded, unfolded text with CRLF lines.

    The gateway keeps this text to compute later when an event ends, so
    VTIMEZONEs and every component come along. Unreadable parts are left out.
    """
    limits = limits or Limits()
    texts = []
    for part in calendar_parts(parse_mime(raw, limits)):
        try:
            content = read_calendar_content(raw, part, limits)
        except (NotCalendar, MalformedCalendar):
            continue
        texts.append("\r\n".join(content.decoded.lines) + "\r\n")
    return texts
