"""Build the MIME shapes of signed and encrypted mail around bytes from the crypto layer.

Every builder writes bytes by hand with CRLF line endings, because a
signature covers the content part byte for byte and a generator's
re-serialisation could change it.
"""

from __future__ import annotations

import secrets

from mime.transfer import encode_base64

CRLF = b"\r\n"


def build_smime_signed(content: bytes, signature_der: bytes, micalg: str = "sha-256") -> bytes:
    """Build an RFC 8551 multipart/signed entity around ``content`` as the signer signed it."""
    signature_part = (
        b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="smime.p7s"\r\n'
        b"\r\n" + encode_base64(signature_der, CRLF)
    )
    media_type = f'multipart/signed; protocol="application/pkcs7-signature"; micalg={micalg}'
    return _multipart(media_type, [content, signature_part])


def build_pgp_signed(content: bytes, signature_armored: bytes, micalg: str = "pgp-sha256") -> bytes:
    """Build an RFC 3156 multipart/signed entity around ``content`` as the signer signed it."""
    signature_part = (
        b'Content-Type: application/pgp-signature; name="signature.asc"\r\n'
        b"Content-Description: OpenPGP digital signature\r\n"
        b'Content-Disposition: attachment; filename="signature.asc"\r\n'
        b"\r\n" + _crlf_lines(signature_armored)
    )
    media_type = f'multipart/signed; protocol="application/pgp-signature"; micalg={micalg}'
    return _multipart(media_type, [content, signature_part])


def build_smime_enveloped(der: bytes) -> bytes:
    """Build an RFC 8551 application/pkcs7-mime enveloped-data entity."""
    return (
        b'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="smime.p7m"\r\n'
        b"\r\n" + encode_base64(der, CRLF)
    )


def build_pgp_encrypted(armored: bytes) -> bytes:
    """Build an RFC 3156 multipart/encrypted entity around an armored OpenPGP message."""
    control = (
        b"Content-Type: application/pgp-encrypted\r\n"
        b"Content-Description: PGP/MIME version identification\r\n"
        b"\r\n"
        b"Version: 1"
    )
    payload = (
        b'Content-Type: application/octet-stream; name="encrypted.asc"\r\n'
        b"Content-Description: OpenPGP encrypted message\r\n"
        b'Content-Disposition: inline; filename="encrypted.asc"\r\n'
        b"\r\n" + _crlf_lines(armored)
    )
    media_type = 'multipart/encrypted; protocol="application/pgp-encrypted"'
    return _multipart(media_type, [control, payload])


def new_boundary(parts: list[bytes]) -> str:
    """Make a random boundary that occurs in none of ``parts``."""
    while True:
        boundary = "=_imip_" + secrets.token_urlsafe(18)
        if not any(boundary.encode("ascii") in part for part in parts):
            return boundary


def _multipart(media_type: str, parts: list[bytes]) -> bytes:
    boundary = new_boundary(parts)
    delimiter = b"--" + boundary.encode("ascii")
    output = f'Content-Type: {media_type};\r\n boundary="{boundary}"\r\n\r\n'.encode("ascii")
    for part in parts:
        output += delimiter + CRLF + part + CRLF
    return output + delimiter + b"--" + CRLF


def _crlf_lines(text: bytes) -> bytes:
    lines = text.replace(b"\r\n", b"\n").split(b"\n")
    return CRLF.join(lines)

