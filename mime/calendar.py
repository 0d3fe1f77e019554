"""A lossless component tree over content lines, for reading and rewriting.

Each line keeps its unfolded text, so a rewrite that changes one property
writes every other line back exactly as it was read. The tree is built with
an explicit stack, so a deeply nested object cannot exhaust Python's
recursion limit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from mime.contentline import ContentLine, parse_content_line
from mime.errors import LimitExceeded, MalformedCalendar, NotCalendar
from mime.limits import Limits


@dataclass
class Line:
    """One logical line: its text and, when it parses, its content line."""

    text: str
    content: ContentLine | None

    @property
    def name(self) -> str | None:
        return self.content.name if self.content else None


@dataclass
class Component:
    """A BEGIN/END block; ``items`` contains its lines and subcomponents in order."""

    name: str
    begin: str = ""
    end: str = ""
    items: list[Line | Component] = field(default_factory=list)

    def properties(self, name: str) -> list[ContentLine]:
        return [
            item.content
            for item in self.items
            if isinstance(item, Line) and item.content is not None and item.content.name == name
        ]

    def first(self, name: str) -> ContentLine | None:
        found = self.properties(name)
        return found[0] if found else None

    def subcomponents(self, name: str | None = None) -> list[Component]:
        return [
            item for item in self.items if isinstance(item, Component) and (name is None or item.name == name)
        ]


def parse_calendar(lines: Sequence[str], limits: Limits) -> Component:
    """Build the tree. The returned root is nameless and contains the top-level items.

    Raises NotCalendar when no component is present, MalformedCalendar when
    BEGIN and END lines do not match, and LimitExceeded when one top-level
    object contains more than ``limits.calendar_components`` components.
    """
    root = Component("")
    stack: list[Component] = [root]
    count = 0

    for text in lines:
        content = parse_content_line(text)
        if content is not None and content.name == "BEGIN":
            if len(stack) == 1:
                count = 0
            count += 1
            if count > limits.calendar_components + 1:
                raise LimitExceeded("calendar_components", limits.calendar_components)
            component = Component(content.value.strip().upper(), begin=text)
            stack[-1].items.append(component)
            stack.append(component)
            continue

        if content is not None and content.name == "END":
            _close(stack, content.value.strip().upper(), text)
            continue

        stack[-1].items.append(Line(text, content))

    if len(stack) > 1:
        raise MalformedCalendar(f"calendar ends inside {stack[-1].name} without END:{stack[-1].name}")
    if not root.subcomponents():
        raise NotCalendar("no BEGIN:VCALENDAR or other component found in the calendar part")
    return root


def _close(stack: list[Component], name: str, text: str) -> None:
    if len(stack) == 1:
        raise MalformedCalendar(f"END:{name} without a matching BEGIN")
    if stack[-1].name != name:
        raise MalformedCalendar(f"END:{name} where END:{stack[-1].name} was expected")
    stack[-1].end = text
    stack.pop()


def iter_lines(component: Component) -> Iterator[str]:
    """Yield the logical lines of a tree in order, the root's own BEGIN/END excepted."""
    stack: list[Iterator[Line | Component]] = [iter(component.items)]
    ends: list[str] = []

    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            if ends:
                yield ends.pop()
            continue
        if isinstance(item, Line):
            yield item.text
            continue
        yield item.begin
        ends.append(item.end)
        stack.append(iter(item.items))

