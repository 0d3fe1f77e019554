"""Content-Transfer-Encoding: lenient decoding and the encodings we write."""

from __future__ import annotations

import base64
import binascii
import re

from mime.unfold import normalize_line_endings

_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def decode_transfer_encoding(body: bytes, encoding: str) -> bytes:
    """Decode base64 and quoted-printable; any other encoding is returned as is."""
    if encoding == "base64":
        return decode_base64(body)
    if encoding == "quoted-printable":
        # Soft line breaks written as CR CR LF or bare CR must still vanish,
        # so line endings are normalised before decoding as well as after.
        return binascii.a2b_qp(normalize_line_endings(body))
    return body


def decode_base64(body: bytes) -> bytes:
    """Decode base64, ignoring characters outside the alphabet and bad padding."""
    letters = _NOT_BASE64.sub(b"", body.split(b"=", 1)[0])
    if len(letters) % 4 == 1:
        letters = letters[:-1]
    letters += b"=" * (-len(letters) % 4)
    return base64.b64decode(letters)


def encode_base64(data: bytes, newline: bytes) -> bytes:
    """Encode as base64 in lines of 76 characters, each ending in ``newline``."""
    encoded = base64.b64encode(data)
    lines = [encoded[index:index + 76] for index in range(0, len(encoded), 76)]
    return b"".join(line + newline for line in lines)


def encode_quoted_printable(data: bytes, newline: bytes) -> bytes:
    """Encode text as quoted-printable; ``data``'s line breaks become ``newline``."""
    text = normalize_line_endings(data)
    encoded = binascii.b2a_qp(text, quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", newline)
