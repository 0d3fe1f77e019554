"""Rewrite the calendar parts of a mail for relay, leaving every other byte alone.

Only a calendar part that an edit changes is written again. It gets UTF-8
content with CRLF lines folded at 75 octets and a Content-Type whose
``method`` equals the object's METHOD. It keeps its own transfer encoding,
except that 7bit becomes quoted-printable when the content is no longer ASCII. The headers, other
parts, boundaries and epilogues keep their exact bytes. An application/ics
copy of the object is a calendar part too and gets the same edits.

Parts inside an encryption layer or an opaque S/MIME signature are not
visible here; the caller rewrites the decrypted or verified content.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable
from dataclasses import dataclass

from mime.calendar import Component, iter_lines
from mime.contentline import serialize_lines
from mime.contenttype import content_type_field
from mime.edits import remove_invite_parameters, remove_pw, set_challenge
from mime.errors import InvalidValue, NotCalendar
from mime.headers import replace_field
from mime.itip import calendar_method
from mime.limits import Limits
from mime.parts import calendar_parts, read_calendar_content
from mime.rawmime import RawPart, detect_newline, parse_mime
from mime.transfer import encode_base64, encode_quoted_printable

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Content-Type parameters the rewrite sets itself.
_REPLACED_PARAMETERS = frozenset({"charset", "method"})


@dataclass(frozen=True)
class RewriteResult:
    """The rewritten message and whether any calendar part changed."""

    data: bytes
    changed: bool


def rewrite(
    raw: bytes,
    *,
    remove_invite: bool = False,
    challenge: str | None = None,
    remove_password: bool = False,
    limits: Limits | None = None,
) -> RewriteResult:
    """Apply the requested edits to every calendar part of ``raw``.

    Raises MalformedCalendar when a calendar part cannot be parsed, because
    relaying it unedited could pass on what the edit had to remove.
    """
    if challenge is not None:
        _check_challenge(challenge)
    limits = limits or Limits()
    edits = _edit_list(remove_invite, challenge, remove_password)

    root = parse_mime(raw, limits)
    newline = detect_newline(raw)
    replacements: list[tuple[int, int, bytes]] = []

    for part in calendar_parts(root):
        try:
            content = read_calendar_content(raw, part, limits)
        except NotCalendar:
            continue
        changed = [edit(content.tree) for edit in edits]
        if any(changed):
            replacements.append((part.start, part.end, _write_part(raw, part, content.tree, newline)))

    return RewriteResult(_splice(raw, replacements), bool(replacements))


def strip_invite(raw: bytes, limits: Limits | None = None) -> bytes:
    """Remove every INVITE parameter from the calendar parts of ``raw``."""
    return rewrite(raw, remove_invite=True, limits=limits).data


def add_challenge(raw: bytes, challenge: str, limits: Limits | None = None) -> bytes:
    """Set ``CHALLENGE:<challenge>`` on every VEVENT, VTODO and VJOURNAL of ``raw``."""
    return rewrite(raw, challenge=challenge, limits=limits).data


def strip_pw(raw: bytes, limits: Limits | None = None) -> bytes:
    """Remove every PW property from the calendar parts of ``raw``."""
    return rewrite(raw, remove_password=True, limits=limits).data


def _edit_list(remove_invite: bool, challenge: str | None, remove_password: bool) -> list[Callable[[Component], bool]]:
    edits: list[Callable[[Component], bool]] = []
    if remove_invite:
        edits.append(remove_invite_parameters)
    if challenge is not None:
        edits.append(lambda tree: set_challenge(tree, challenge))
    if remove_password:
        edits.append(remove_pw)
    return edits


def _check_challenge(challenge: str) -> None:
    if not challenge.strip() or _CONTROL.search(challenge):
        raise InvalidValue(f"challenge {challenge!r} is empty or contains control characters")


def _write_part(raw: bytes, part: RawPart, tree: Component, newline: bytes) -> bytes:
    content = serialize_lines(list(iter_lines(tree)), b"\r\n")
    encoding = part.transfer_encoding
    headers = raw[part.start:part.header_end]

    if encoding == "base64":
        body = encode_base64(content, newline)
    elif encoding == "quoted-printable" or (not content.isascii() and encoding in ("", "7bit")):
        body = encode_quoted_printable(content, newline)
        if encoding != "quoted-printable":
            field = b"Content-Transfer-Encoding: quoted-printable" + newline
            headers = replace_field(headers, "Content-Transfer-Encoding", field)
    else:
        body = content.replace(b"\r\n", newline)

    headers = replace_field(headers, "Content-Type", _content_type(part, tree, newline))
    if not _ends_with_line_break(raw[part.body_start:part.end]):
        body = body[: -len(newline)] if body.endswith(newline) else body
    return headers + raw[part.header_end:part.body_start] + body


def _content_type(part: RawPart, tree: Component, newline: bytes) -> bytes:
    parameters = [
        (name, _parameter_text(value))
        for name, value in (part.headers.get_params() or [])[1:]
        if name.lower() not in _REPLACED_PARAMETERS
    ]
    calendars = tree.subcomponents("VCALENDAR")
    method = calendar_method(calendars[0]) if calendars else None

    parameters.insert(0, ("charset", "UTF-8"))
    if method is not None:
        parameters.insert(1, ("method", method))
    return content_type_field(part.content_type, parameters, newline)


def _parameter_text(value: str | tuple[str, str, str]) -> str:
    if isinstance(value, tuple):
        return str(email.utils.collapse_rfc2231_value(value))
    return value


def _ends_with_line_break(body: bytes) -> bool:
    return body.endswith(b"\n") or body.endswith(b"\r")


def _splice(raw: bytes, replacements: list[tuple[int, int, bytes]]) -> bytes:
    output = bytearray()
    position = 0
    for start, end, data in sorted(replacements):
        output += raw[position:start]
        output += data
        position = end
    output += raw[position:]
    return bytes(output)
