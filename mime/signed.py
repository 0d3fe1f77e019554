"""Find the root signed or encrypted entity and cut its exact bytes.

Only the root counts. A decryption layer is handled by the caller, which
decrypts and calls these functions again on the plaintext. A signed part
anywhere else in the tree signs nothing, because a forwarder or list that
wrapped it could have put anything beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mime.limits import Limits
from mime.parts import part_content
from mime.rawmime import parse_mime
from mime.structure import (
    PKCS7_SIGNATURE_TYPES,
    detached_signature_protocol,
    encryption_kind,
    is_opaque_signed,
)

SMIME_DETACHED = "smime-detached"
SMIME_OPAQUE = "smime-opaque"
PGP = "pgp"


@dataclass(frozen=True)
class SignedEntity:
    """The root signature of a message.

    For a detached signature (``smime-detached``, ``pgp``) ``signed_bytes``
    is the first part exactly as received: its headers, the blank line and
    its body up to the line break before the boundary. The sender signed
    them with CRLF line endings, so a message stored with LF endings needs
    ``to_crlf`` before verification. For ``smime-opaque`` ``signed_bytes``
    is None because the content is inside ``signature``, the DER SignedData.
    """

    kind: str
    signed_bytes: bytes | None
    signature: bytes
    protocol: str
    micalg: str | None


@dataclass(frozen=True)
class EncryptedEntity:
    """The root encryption layer: ``smime`` with DER EnvelopedData, or ``pgp`` with an armored message."""

    kind: str
    ciphertext: bytes


def find_signed_entity(raw: bytes, limits: Limits | None = None) -> SignedEntity | None:
    """Return the root signed entity of ``raw``, or None when the root is not signed."""
    root = parse_mime(raw, limits or Limits())

    if is_opaque_signed(root):
        return SignedEntity(SMIME_OPAQUE, None, part_content(raw, root), root.content_type, None)

    protocol = detached_signature_protocol(root)
    if protocol is None:
        return None

    content, signature = root.children
    kind = SMIME_DETACHED if protocol in PKCS7_SIGNATURE_TYPES else PGP
    micalg = root.param("micalg")
    return SignedEntity(
        kind=kind,
        signed_bytes=raw[content.start:content.end],
        signature=part_content(raw, signature),
        protocol=protocol,
        micalg=micalg.strip().lower() if micalg else None,
    )


def find_encrypted_entity(raw: bytes, limits: Limits | None = None) -> EncryptedEntity | None:
    """Return the root encryption layer's ciphertext, or None when the root is not encrypted."""
    root = parse_mime(raw, limits or Limits())
    kind = encryption_kind(root)

    if kind == "smime":
        return EncryptedEntity(kind, part_content(raw, root))
    if kind == "pgp" and len(root.children) == 2:
        return EncryptedEntity(kind, part_content(raw, root.children[1]))
    return None


def to_crlf(data: bytes) -> bytes:
    """Turn LF and CR CR LF line endings into CRLF, the form signatures are made over."""
    return data.replace(b"\r\r\n", b"\n").replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
