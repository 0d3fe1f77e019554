"""Write Content-Type header fields with correct quoting and folding."""

from __future__ import annotations

import email.utils
import re

# RFC 2045 token characters; anything else in a value needs quotes.
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")

_MAX_LINE = 78


def format_parameter(name: str, value: str) -> str:
    """Format one ``name=value``, quoting or RFC 2231-encoding the value as needed."""
    if not value.isascii():
        return f"{name}*={email.utils.encode_rfc2231(value, 'utf-8')}"
    if _TOKEN.fullmatch(value):
        return f"{name}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{escaped}"'


def content_type_field(media_type: str, parameters: list[tuple[str, str]], newline: bytes) -> bytes:
    """Write a whole ``Content-Type`` field, one parameter a line when it is long."""
    formatted = [format_parameter(name, value) for name, value in parameters]
    single = "; ".join([f"Content-Type: {media_type}", *formatted])
    if len(single) <= _MAX_LINE:
        return single.encode("utf-8") + newline

    separator = ";" + newline.decode("ascii") + " "
    folded = separator.join([f"Content-Type: {media_type}", *formatted])
    return folded.encode("utf-8") + newline
