"""Turn the bytes of a calendar part into logical content lines.

The order matters. Line endings are normalised first because icalendar and
most parsers fail on CR CR LF and bare CR. Unfolding happens on bytes because
some senders fold in the middle of a UTF-8 sequence, which no text decoder
would survive. The charset is chosen last, on the unfolded bytes: the
declared one, else UTF-8, else Windows-1252, which is reported because it is
a guess.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_BOM = b"\xef\xbb\xbf"

# CR CR LF first, so that it becomes one line break and not two.
_LINE_BREAK = re.compile(rb"\r\r\n|\r\n|\r")

# RFC 5545 folds by a line break followed by one space or one TAB.
_FOLD = re.compile(rb"\n[ \t]")


@dataclass(frozen=True)
class DecodedText:
    """Unfolded content lines, the charset used to decode them, and what was odd."""

    lines: tuple[str, ...]
    charset: str
    problems: tuple[str, ...]


def normalize_line_endings(data: bytes) -> bytes:
    """Replace CR CR LF, CR LF and bare CR with LF."""
    return _LINE_BREAK.sub(b"\n", data)


def unfold_lines(data: bytes) -> list[bytes]:
    """Split normalised bytes into logical lines, dropping blank ones."""
    unfolded = _FOLD.sub(b"", data)
    return [line for line in unfolded.split(b"\n") if line.strip()]


def decode_calendar_bytes(data: bytes, declared_charset: str | None) -> DecodedText:
    """Decode a calendar part's content (after its transfer encoding) into lines."""
    problems: list[str] = []
    data = normalize_line_endings(data)

    # A BOM means UTF-8 whatever the header declares, because senders add
    # it without changing the declared charset.
    if data.startswith(_BOM):
        data = data[len(_BOM):]
        declared_charset = "utf-8"

    raw_lines = unfold_lines(data)
    joined = b"\n".join(raw_lines)
    text, charset = _decode_charset(joined, declared_charset, problems)
    return DecodedText(tuple(text.split("\n")) if text else (), charset, tuple(problems))


def _decode_charset(data: bytes, declared: str | None, problems: list[str]) -> tuple[str, str]:
    if declared:
        codec = _lookup_codec(declared)
        if codec is None:
            problems.append(f"unknown charset {declared!r} declared; the content is decoded without it")
        else:
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                problems.append(f"content is not valid {declared}, although that charset is declared")

    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass

    # Windows-1252 leaves five bytes undefined. Replacing them is the only
    # choice left, and the problem entry records that it happened.
    problems.append("content is not UTF-8 and declares no usable charset; decoded as Windows-1252")
    return data.decode("cp1252", errors="replace"), "cp1252"


def _lookup_codec(name: str) -> str | None:
    try:
        return codecs.lookup(name.strip().strip('"')).name
    except (LookupError, ValueError):
        return None
