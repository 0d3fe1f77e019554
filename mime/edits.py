"""Edits of a calendar tree for relay; each returns whether it changed a line."""

from __future__ import annotations

from collections.abc import Iterator

from mime.calendar import Component, Line
from mime.contentline import parse_content_line
from mime.errors import AmbiguousLine

# Components that get a CHALLENGE for the recipient to respond to.
CHALLENGE_COMPONENTS = frozenset({"VEVENT", "VTODO", "VJOURNAL"})


def remove_invite_parameters(tree: Component) -> bool:
    """Drop the INVITE parameter from every property line of the tree.

    Raises AmbiguousLine for an ambiguous line that mentions INVITE: it
    cannot be edited without guessing where its parameters end, and passed
    on unedited a lenient client could still read the INVITE.
    """
    changed = False
    for line in _lines(tree):
        if line.content is not None and line.content.ambiguous and "INVITE=" in line.text.upper():
            raise AmbiguousLine(f"cannot remove INVITE from the ambiguous line {line.text!r}")
        if line.content is None or line.content.parameter("INVITE") is None:
            continue
        line.content = line.content.without_parameter("INVITE")
        line.text = line.content.to_text()
        changed = True
    return changed


def remove_pw(tree: Component) -> bool:
    """Drop every PW property, so a one-time password never reaches the organizer."""
    changed = False
    for component in _components(tree):
        kept = [item for item in component.items if not _is_property(item, "PW")]
        if len(kept) != len(component.items):
            component.items = kept
            changed = True
    return changed


def set_challenge(tree: Component, challenge: str) -> bool:
    """Give each VEVENT, VTODO and VJOURNAL of the tree one CHALLENGE with this value.

    An existing CHALLENGE is replaced, so a sender cannot plant its own. The
    new line goes after the component's last property, before any VALARM.
    """
    text = f"CHALLENGE:{challenge}"
    changed = False
    for component in _challenge_targets(tree):
        before = [item.text for item in component.items if isinstance(item, Line)]
        items = [item for item in component.items if not _is_property(item, "CHALLENGE")]
        position = next((index for index, item in enumerate(items) if isinstance(item, Component)), len(items))
        items.insert(position, Line(text, parse_content_line(text)))
        component.items = items
        if [item.text for item in items if isinstance(item, Line)] != before:
            changed = True
    return changed


def _challenge_targets(tree: Component) -> list[Component]:
    calendars = tree.subcomponents("VCALENDAR") or [tree]
    return [
        component
        for calendar in calendars
        for component in calendar.subcomponents()
        if component.name in CHALLENGE_COMPONENTS
    ]


def _is_property(item: Line | Component, name: str) -> bool:
    return isinstance(item, Line) and item.name == name


def _components(tree: Component) -> Iterator[Component]:
    stack = [tree]
    while stack:
        component = stack.pop()
        yield component
        stack.extend(component.subcomponents())


def _lines(tree: Component) -> Iterator[Line]:
    for component in _components(tree):
        for item in component.items:
            if isinstance(item, Line):
                yield item
