"""A small BER reader, enough to take a CMS SignedData apart.

cryptography 50 loads certificates from PKCS#7 but exposes neither the
SignerInfos nor the encapsulated content, and the signature checks need
both. BER rather than strict DER is read, because mail clients send
indefinite lengths and constructed OCTET STRINGs in opaque signed data.
"""

from __future__ import annotations

from dataclasses import dataclass

from crypto.errors import Asn1Error

UNIVERSAL = 0
CONTEXT = 2

INTEGER = 0x02
OCTET_STRING = 0x04
OBJECT_IDENTIFIER = 0x06
SEQUENCE = 0x10
SET = 0x11

# Far deeper than any CMS structure, and low enough that hostile nesting
# cannot exhaust Python's recursion limit.
MAX_DEPTH = 32


@dataclass(frozen=True)
class Element:
    """One BER element: its identifier, content octets and whole encoding."""

    tag_class: int
    constructed: bool
    tag: int
    content: bytes
    encoding: bytes
    depth: int

    def is_universal(self, tag: int) -> bool:
        return self.tag_class == UNIVERSAL and self.tag == tag

    def is_context(self, tag: int) -> bool:
        return self.tag_class == CONTEXT and self.tag == tag

    def children(self) -> list[Element]:
        """Parse the content of a constructed element into its elements."""
        if not self.constructed:
            raise Asn1Error(f"expected a constructed element, found primitive tag {self.tag}")
        return _read_all(self.content, self.depth + 1)

    def octets(self) -> bytes:
        """Return the value of an OCTET STRING, joining constructed segments."""
        if not self.constructed:
            return self.content
        return b"".join(child.octets() for child in self.children())

    def integer(self) -> int:
        if self.constructed or not self.content:
            raise Asn1Error("malformed INTEGER")
        return int.from_bytes(self.content, "big", signed=True)

    def oid(self) -> str:
        return decode_oid(self.content)


def parse(data: bytes) -> Element:
    """Parse exactly one element that spans all of ``data``."""
    element, end = _read(data, 0, 0)
    if end != len(data):
        raise Asn1Error(f"{len(data) - end} bytes of trailing data after the element")
    return element


def decode_oid(content: bytes) -> str:
    """Decode the content octets of an OBJECT IDENTIFIER into dotted form."""
    if not content or content[-1] & 0x80:
        raise Asn1Error("malformed OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])


def _read_all(data: bytes, depth: int) -> list[Element]:
    elements = []
    offset = 0
    while offset < len(data):
        element, offset = _read(data, offset, depth)
        elements.append(element)
    return elements


def _read(data: bytes, start: int, depth: int) -> tuple[Element, int]:
    if depth > MAX_DEPTH:
        raise Asn1Error(f"elements nested deeper than {MAX_DEPTH} levels")
    tag_class, constructed, tag, offset = _read_identifier(data, start)
    length, offset = _read_length(data, offset)

    if length is None:
        if not constructed:
            raise Asn1Error("indefinite length on a primitive element")
        content, end = _read_indefinite(data, offset, depth)
    else:
        end = offset + length
        if end > len(data):
            raise Asn1Error(f"element of {length} bytes is truncated")
        content = data[offset:end]

    element = Element(tag_class, constructed, tag, content, data[start:end], depth)
    return element, end


def _read_identifier(data: bytes, offset: int) -> tuple[int, bool, int, int]:
    if offset >= len(data):
        raise Asn1Error("data ends before an identifier octet")
    first = data[offset]
    offset += 1
    tag = first & 0x1F
    if tag == 0x1F:
        tag = 0
        while True:
            if offset >= len(data):
                raise Asn1Error("data ends inside a long tag number")
            byte = data[offset]
            offset += 1
            tag = (tag << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
            if tag > 0xFFFFFF:
                raise Asn1Error("tag number too large")
    return first >> 6, bool(first & 0x20), tag, offset


def _read_length(data: bytes, offset: int) -> tuple[int | None, int]:
    if offset >= len(data):
        raise Asn1Error("data ends before a length octet")
    first = data[offset]
    offset += 1
    if first < 0x80:
        return first, offset
    if first == 0x80:
        return None, offset
    count = first & 0x7F
    if count > 8 or offset + count > len(data):
        raise Asn1Error("malformed length")
    return int.from_bytes(data[offset : offset + count], "big"), offset + count


def _read_indefinite(data: bytes, offset: int, depth: int) -> tuple[bytes, int]:
    """Read elements up to the end-of-contents octets; return content and end."""
    start = offset
    while True:
        if data[offset : offset + 2] == b"\x00\x00":
            return data[start:offset], offset + 2
        if offset >= len(data):
            raise Asn1Error("indefinite-length element has no end-of-contents")
        _, offset = _read(data, offset, depth + 1)
