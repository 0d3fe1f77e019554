"""iCalendar content lines (RFC 5545, section 3.1): parse, edit and fold.

Parsing is lenient where real senders deviate: a backslash-escaped comma in
an unquoted parameter value is one comma, and parameter names and values of
any case are accepted. It is strict where leniency would be dangerous: the
first colon outside quotes ends the parameters, as RFC 5545 requires, and a
CAL-ADDRESS line whose value still looks like parameters or contains a second
``mailto:`` is marked ambiguous instead of being repaired.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

_NAME = re.compile(r"[A-Za-z0-9-]+")

# Properties whose value is a CAL-ADDRESS, where an ambiguous split could
# put a wrong address in the organizer's or an attendee's place.
CAL_ADDRESS_PROPERTIES = frozenset({"ORGANIZER", "ATTENDEE"})

# A value that continues with ";NAME=...:" is the rest of a parameter list
# split at a colon inside an unquoted parameter value.
_PARAMETER_TAIL = re.compile(r'^[^:"]*;[A-Za-z0-9-]+=[^:]*:')

MAX_LINE_OCTETS = 75


@dataclass(frozen=True)
class Parameter:
    """One property parameter: its name in upper case, its text as written and its values."""

    name: str
    raw: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class ContentLine:
    """One unfolded content line; ``raw_name`` keeps the sender's spelling."""

    name: str
    raw_name: str
    parameters: tuple[Parameter, ...]
    value: str
    ambiguous: bool = False

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name.upper()), None)

    def first_value(self, name: str) -> str | None:
        parameter = self.parameter(name)
        if parameter is None or not parameter.values:
            return None
        return parameter.values[0]

    def without_parameter(self, name: str) -> ContentLine:
        kept = tuple(p for p in self.parameters if p.name != name.upper())
        return replace(self, parameters=kept)

    def to_text(self) -> str:
        parameters = "".join(f";{p.raw}" for p in self.parameters)
        return f"{self.raw_name}{parameters}:{self.value}"


def parse_content_line(text: str) -> ContentLine | None:
    """Parse one unfolded line; return None when it is not a content line at all."""
    match = _NAME.match(text)
    if match is None:
        return None
    position = match.end()

    parameters: list[Parameter] = []
    while position < len(text) and text[position] == ";":
        parsed = _parse_parameter(text, position + 1)
        if parsed is None:
            return None
        parameter, position = parsed
        parameters.append(parameter)

    if position >= len(text) or text[position] != ":":
        return None

    name = match.group().upper()
    value = text[position + 1:]
    return ContentLine(name, match.group(), tuple(parameters), value, _is_ambiguous(name, value))


def _parse_parameter(text: str, start: int) -> tuple[Parameter, int] | None:
    match = _NAME.match(text, start)
    if match is None:
        return None
    position = match.end()

    # A parameter without "=value" is invalid, but some senders write
    # "RSVP;" by mistake; keep it as written with no values.
    if position >= len(text) or text[position] != "=":
        return Parameter(match.group().upper(), match.group(), ()), position

    values: list[str] = []
    position += 1
    while True:
        parsed = _parse_parameter_value(text, position)
        if parsed is None:
            return None
        value, position = parsed
        values.append(value)
        if position < len(text) and text[position] == ",":
            position += 1
            continue
        break

    raw = text[start:position]
    return Parameter(match.group().upper(), raw, tuple(values)), position


def _parse_parameter_value(text: str, start: int) -> tuple[str, int] | None:
    if start < len(text) and text[start] == '"':
        end = text.find('"', start + 1)
        if end < 0:
            return None
        return text[start + 1:end], end + 1

    characters: list[str] = []
    position = start
    while position < len(text) and text[position] not in ';:,"':
        if text.startswith("\\,", position):
            characters.append(",")
            position += 2
            continue
        characters.append(text[position])
        position += 1
    return "".join(characters), position


def _is_ambiguous(name: str, value: str) -> bool:
    if name not in CAL_ADDRESS_PROPERTIES:
        return False
    if ":mailto:" in value.lower():
        return True
    return _PARAMETER_TAIL.match(value) is not None


def fold_line(text: str) -> list[bytes]:
    """Fold one line into UTF-8 chunks of at most 75 octets, never inside a character.

    Every chunk after the first starts with the space that marks a fold,
    and that space counts towards its 75 octets.
    """
    chunks: list[bytes] = []
    current = bytearray()
    limit = MAX_LINE_OCTETS

    for character in text:
        encoded = character.encode("utf-8")
        if len(current) + len(encoded) > limit:
            chunks.append(bytes(current))
            current = bytearray(b" ")
        current += encoded

    chunks.append(bytes(current))
    return chunks


def serialize_lines(lines: list[str], newline: bytes = b"\r\n") -> bytes:
    """Write logical lines as folded UTF-8 content lines, each ending in ``newline``."""
    output = bytearray()
    for line in lines:
        for chunk in fold_line(line):
            output += chunk + newline
    return bytes(output)
