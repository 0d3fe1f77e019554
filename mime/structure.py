"""Recognise the root shapes of signed and encrypted mail (RFC 8551, RFC 3156)."""

from __future__ import annotations

from mime.rawmime import RawPart

PKCS7_MIME_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
PKCS7_SIGNATURE_TYPES = frozenset({"application/pkcs7-signature", "application/x-pkcs7-signature"})
PGP_SIGNATURE_TYPE = "application/pgp-signature"
PGP_ENCRYPTED_TYPE = "application/pgp-encrypted"


def smime_type(part: RawPart) -> str | None:
    value = part.param("smime-type")
    return value.strip().lower() if value else None


def encryption_kind(root: RawPart) -> str | None:
    """Return "smime" or "pgp" when the root is an encryption layer, else None.

    An application/pkcs7-mime part without smime-type is taken as
    enveloped-data, because the clients that leave the parameter out use
    that type only for encryption.
    """
    if root.content_type in PKCS7_MIME_TYPES:
        kind = smime_type(root)
        if kind in (None, "enveloped-data", "authenveloped-data"):
            return "smime"
        return None
    if root.content_type == "multipart/encrypted":
        protocol = (root.param("protocol") or "").strip().lower()
        if protocol == PGP_ENCRYPTED_TYPE:
            return "pgp"
    return None


def is_opaque_signed(root: RawPart) -> bool:
    return root.content_type in PKCS7_MIME_TYPES and smime_type(root) == "signed-data"


def detached_signature_protocol(root: RawPart) -> str | None:
    """Return the protocol of a root multipart/signed with exactly two parts, else None."""
    if root.content_type != "multipart/signed" or len(root.children) != 2:
        return None
    protocol = (root.param("protocol") or "").strip().lower()
    if protocol in PKCS7_SIGNATURE_TYPES or protocol == PGP_SIGNATURE_TYPE:
        return protocol
    return None


def signed_content_path(root: RawPart) -> tuple[int, ...] | None:
    """Return the path of the content a root signature covers, or None when nothing is signed."""
    return (0,) if detached_signature_protocol(root) is not None else None
