"""A MIME tree that records where each part's bytes lie in the message.

The standard library's parser re-serialises what it reads, which is no use
when a signature covers the exact received bytes or when a rewrite must leave
every untouched part byte-identical. This tree keeps offsets into the
original bytes instead and parses only header blocks with ``email``.
"""

from __future__ import annotations

import email.errors
import email.parser
import email.policy
import email.utils
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import TypeVar

from mime.errors import LimitExceeded, MalformedMessage
from mime.limits import Limits

_T = TypeVar("_T")

# The blank line after a header block, whatever line ending the sender used.
_HEADER_END = re.compile(rb"\n\r*\n")
_LEADING_BLANK_LINE = re.compile(rb"\r*\n")

# The stdlib parser raises these on some malformed headers despite its
# defect-collecting design; they are turned into MalformedMessage.
_HEADER_FAILURES = (
    email.errors.MessageError,
    ValueError,
    TypeError,
    IndexError,
    AttributeError,
    LookupError,
)


@dataclass(eq=False)
class RawPart:
    """One MIME entity: offsets into the message and its parsed header block.

    ``start`` to ``header_end`` is the header block with its last line
    break; ``body_start`` to ``end`` is the body. ``end`` excludes the line
    break that belongs to the next boundary delimiter.
    """

    start: int
    header_end: int
    body_start: int
    end: int
    headers: Message
    path: tuple[int, ...]
    depth: int
    children: list[RawPart] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return _guarded(lambda: self.headers.get_content_type().lower(), "Content-Type")

    def param(self, name: str) -> str | None:
        """Return a Content-Type parameter, RFC 2231 encoding resolved."""

        def lookup() -> str | None:
            value = self.headers.get_param(name)
            if value is None or isinstance(value, str):
                return value
            return str(email.utils.collapse_rfc2231_value(value))

        return _guarded(lookup, "Content-Type")

    @property
    def filename(self) -> str | None:
        def lookup() -> str | None:
            name = self.headers.get_filename()
            return name if name is not None else self.param("name")

        return _guarded(lookup, "Content-Disposition")

    @property
    def transfer_encoding(self) -> str:
        return str(self.headers.get("Content-Transfer-Encoding", "")).strip().lower()

    @property
    def is_multipart(self) -> bool:
        return self.content_type.startswith("multipart/")


def parse_mime(raw: bytes, limits: Limits) -> RawPart:
    """Build the tree of ``raw``; raise LimitExceeded past the depth or part limits."""
    root = _make_part(raw, 0, len(raw), (), 0)
    pending = [root]
    count = 1

    while pending:
        part = pending.pop()
        if not part.is_multipart:
            continue
        for index, (start, end) in enumerate(_split_multipart(raw, part)):
            if part.depth + 1 > limits.mime_depth:
                raise LimitExceeded("mime_depth", limits.mime_depth)
            count += 1
            if count > limits.mime_parts:
                raise LimitExceeded("mime_parts", limits.mime_parts)
            child = _make_part(raw, start, end, part.path + (index,), part.depth + 1)
            part.children.append(child)
            pending.append(child)
    return root


def iter_parts(root: RawPart) -> list[RawPart]:
    """List every part of the tree in document order, the root first."""
    ordered: list[RawPart] = []
    stack = [root]
    while stack:
        part = stack.pop()
        ordered.append(part)
        stack.extend(reversed(part.children))
    return ordered


def collect_problems(root: RawPart) -> list[str]:
    return [problem for part in iter_parts(root) for problem in part.problems]


def detect_newline(raw: bytes) -> bytes:
    """Return the line ending the message's first line uses (CRLF unless it is LF)."""
    position = raw.find(b"\n")
    if position > 0 and raw[position - 1:position] == b"\r":
        return b"\r\n"
    return b"\n" if position >= 0 else b"\r\n"


def _make_part(raw: bytes, start: int, end: int, path: tuple[int, ...], depth: int) -> RawPart:
    header_end, body_start = _split_header_block(raw, start, end)
    block = re.sub(rb"\r*\n", b"\n", raw[start:header_end])

    parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    try:
        headers = parser.parsebytes(block)
    except _HEADER_FAILURES as error:
        raise MalformedMessage(f"unreadable header block in MIME part {_describe(path)}: {error}") from None
    return RawPart(start, header_end, body_start, end, headers, path, depth)


def _split_header_block(raw: bytes, start: int, end: int) -> tuple[int, int]:
    leading = _LEADING_BLANK_LINE.match(raw, start, end)
    if leading is not None:
        return start, leading.end()

    blank = _HEADER_END.search(raw, start, end)
    if blank is None:
        return end, end
    return blank.start() + 1, blank.end()


def _split_multipart(raw: bytes, part: RawPart) -> list[tuple[int, int]]:
    boundary = part.param("boundary")
    if not boundary:
        part.problems.append(f"{part.content_type} part {_describe(part.path)} has no boundary; read as a leaf")
        return []

    delimiter = re.compile(
        rb"^--" + re.escape(boundary.encode("utf-8", "surrogateescape")) + rb"(--)?[ \t]*\r*$",
        re.MULTILINE,
    )
    ranges: list[tuple[int, int]] = []
    current: int | None = None

    for match in delimiter.finditer(raw, part.body_start, part.end):
        if current is not None:
            ranges.append((current, _before_line_break(raw, match.start(), current)))
        if match.group(1):
            return ranges
        current = _after_line_break(raw, match.end(), part.end)

    if current is not None:
        ranges.append((current, part.end))
    part.problems.append(f"{part.content_type} part {_describe(part.path)} has no closing boundary")
    return ranges


def _before_line_break(raw: bytes, position: int, floor: int) -> int:
    if position > floor and raw[position - 1:position] == b"\n":
        position -= 1
    while position > floor and raw[position - 1:position] == b"\r":
        position -= 1
    return position


def _after_line_break(raw: bytes, position: int, end: int) -> int:
    if position < end and raw[position:position + 1] == b"\n":
        return position + 1
    return position


def _describe(path: tuple[int, ...]) -> str:
    return "/".join(str(index + 1) for index in path) or "root"


def describe_path(path: tuple[int, ...]) -> str:
    """Name a part by its 1-based position, as "root" or "2/1"."""
    return _describe(path)


def _guarded(lookup: Callable[[], _T], header: str) -> _T:
    try:
        return lookup()
    except _HEADER_FAILURES as error:
        raise MalformedMessage(f"unreadable {header} header: {error}") from None
