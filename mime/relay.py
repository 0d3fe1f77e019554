"""The relayed form of a signed or encrypted REPLY, and the verdict header.

The organizer's calendar cannot decrypt a REPLY encrypted to the gateway,
and a signature no longer verifies once PW is removed, so such a REPLY is
relayed as its verified inner content with the gateway's verdict in an
``X-Imip-Gateway-Verdict`` header. Every inbound copy of that header is
removed first, so a sender can never set the verdict.
"""

from __future__ import annotations

import re

from mime.errors import InvalidValue
from mime.headers import field_name, remove_fields, split_fields

VERDICT_HEADER = "X-Imip-Gateway-Verdict"

_HEADER_END = re.compile(rb"\n\r*\n")
_LINE_BREAK = re.compile(rb"\r*\n")
_VERDICT_TEXT = re.compile(r"[\x20-\x7e]+")


def split_header_block(data: bytes) -> tuple[bytes, bytes]:
    """Split an entity into its header block (with its last line break) and the rest.

    Data without a blank line is taken as a header block alone.
    """
    if data.startswith(b"\n") or data.startswith(b"\r\n"):
        return b"", data
    match = _HEADER_END.search(data)
    if match is None:
        return data, b""
    return data[: match.start() + 1], data[match.start() + 1:]


def remove_verdict_headers(raw: bytes) -> bytes:
    """Remove every X-Imip-Gateway-Verdict field from the message's top header block."""
    block, rest = split_header_block(raw)
    return remove_fields(block, VERDICT_HEADER) + rest


def build_relayed_reply(inner: bytes, original_headers: bytes, verdict: str) -> bytes:
    """Build the relayed REPLY: the received headers around the verified inner entity.

    ``original_headers`` is the received message's header block (a whole
    message is accepted too, and its body ignored). Its Content-* fields
    and MIME-Version give way to the inner entity's Content-* fields, and
    ``verdict`` becomes the only X-Imip-Gateway-Verdict field. Remove PW
    from the result with ``strip_pw`` when the REPLY carried one. Output
    lines end in CRLF.
    """
    if not _VERDICT_TEXT.fullmatch(verdict):
        raise InvalidValue(f"verdict {verdict!r} must be printable ASCII on one line")

    outer_block, _ = split_header_block(original_headers)
    inner_block, inner_rest = split_header_block(inner)

    outer = [f for f in split_fields(outer_block) if not _is_mime_field(f) and not _is_verdict(f)]
    content = [f for f in split_fields(inner_block) if field_name(f).startswith("content-")]
    verdict_field = f"{VERDICT_HEADER}: {verdict}\r\n".encode("ascii")

    block = b"".join(_to_crlf(f) for f in outer)
    block += b"MIME-Version: 1.0\r\n" + verdict_field
    block += b"".join(_to_crlf(f) for f in content)
    return block + _to_crlf_head(inner_rest)


def _is_mime_field(header_field: bytes) -> bool:
    name = field_name(header_field)
    return name.startswith("content-") or name == "mime-version"


def _is_verdict(header_field: bytes) -> bool:
    return field_name(header_field) == VERDICT_HEADER.lower()


def _to_crlf(header_field: bytes) -> bytes:
    fixed = _LINE_BREAK.sub(b"\r\n", header_field)
    return fixed if fixed.endswith(b"\r\n") else fixed + b"\r\n"


def _to_crlf_head(rest: bytes) -> bytes:
    """Make the blank line after the headers CRLF; the body is kept as the crypto layer gave it."""
    match = _LINE_BREAK.match(rest)
    if match is None:
        return b"\r\n" + rest
    return b"\r\n" + rest[match.end():]
