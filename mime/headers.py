"""Edit raw header blocks field by field, leaving every other byte as it was."""

from __future__ import annotations

import re

_LINE = re.compile(rb"[^\n]*\n|[^\n]+")


def split_fields(block: bytes) -> list[bytes]:
    """Split a header block into fields, each with its continuation lines and line breaks."""
    fields: list[bytes] = []
    for line in _LINE.findall(block):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += line
        else:
            fields.append(line)
    return fields


def field_name(header_field: bytes) -> str:
    name, colon, _ = header_field.partition(b":")
    return name.strip().decode("ascii", "replace").lower() if colon else ""


def remove_fields(block: bytes, name: str) -> bytes:
    """Remove every field called ``name`` (any case) from a header block."""
    wanted = name.lower()
    return b"".join(f for f in split_fields(block) if field_name(f) != wanted)


def replace_field(block: bytes, name: str, new_field: bytes) -> bytes:
    """Put ``new_field`` in place of the first field called ``name`` and drop the others.

    When there is no such field, ``new_field`` is appended.
    """
    wanted = name.lower()
    output: list[bytes] = []
    placed = False
    for header_field in split_fields(block):
        if field_name(header_field) != wanted:
            output.append(header_field)
        elif not placed:
            output.append(new_field)
            placed = True
    if not placed:
        output.append(new_field)
    return b"".join(output)


def contains_line_break(value: str) -> bool:
    return "\r" in value or "\n" in value
