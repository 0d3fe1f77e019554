"""S/MIME signing, encryption and decryption on bytes, with cryptography.

cryptography 50 or later is required: earlier releases leaked a decryption
oracle in PKCS#7 decryption. It encrypts only to RSA recipients, so EC
recipients are encrypted to with OpenSSL's ``cms -encrypt``, and the
gateway's own key must be RSA to decrypt. The MIME wrappers around these
DER blobs are built elsewhere. Content is signed and encrypted in binary
mode, because the caller passes canonical CRLF bytes already.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from crypto.errors import KeyImportError, SmimeError
from crypto.smime_trust import load_certificate
from crypto.tools import run_openssl

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class SmimeIdentity:
    """The gateway's own certificate and private key."""

    certificate: x509.Certificate
    private_key: SigningKey

    @classmethod
    def load(cls, certificate_data: bytes, key_data: bytes, password: bytes | None = None) -> SmimeIdentity:
        """Load a PEM or DER certificate and a PEM or DER private key that belongs to it."""
        certificate = load_certificate(certificate_data)
        private_key = _load_private_key(key_data, password)
        if private_key.public_key().public_numbers() != certificate.public_key().public_numbers():  # type: ignore[union-attr]
            raise KeyImportError("the private key does not belong to the certificate")
        return cls(certificate, private_key)

    @classmethod
    def from_files(cls, certificate_path: Path, key_path: Path, password_file: Path | None = None) -> SmimeIdentity:
        """Load the identity ``[crypto] smime_cert``, ``smime_key`` and its password file name."""
        password = read_secret_file(password_file) if password_file else None
        return cls.load(_read(certificate_path), _read(key_path), password)


def read_secret_file(path: Path) -> bytes:
    """Return the first line of a passphrase file, without its line end."""
    data = _read(path)
    return data.splitlines()[0] if data.strip() else b""


def sign_smime_detached(content: bytes, identity: SmimeIdentity) -> bytes:
    """Sign ``content`` and return a detached CMS SignedData in DER (for multipart/signed)."""
    return _sign(content, identity, [pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.DetachedSignature])


def sign_smime_opaque(content: bytes, identity: SmimeIdentity) -> bytes:
    """Sign ``content`` and return a CMS SignedData that embeds it, in DER."""
    return _sign(content, identity, [pkcs7.PKCS7Options.Binary])


def encrypt_smime(content: bytes, recipient: x509.Certificate) -> bytes:
    """Encrypt ``content`` with AES-256-CBC to ``recipient`` and return EnvelopedData in DER."""
    public_key = recipient.public_key()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return _encrypt_with_openssl(content, recipient)
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SmimeError(f"cannot encrypt to a {type(public_key).__name__} certificate; RSA or EC is needed")
    builder = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(content)
        .add_recipient(recipient)
        .set_content_encryption_algorithm(algorithms.AES256)
    )
    return builder.encrypt(Encoding.DER, [pkcs7.PKCS7Options.Binary])


def decrypt_smime(enveloped_der: bytes, identity: SmimeIdentity) -> bytes:
    """Decrypt EnvelopedData addressed to the gateway and return the content.

    Raises ``SmimeError`` when the data is not EnvelopedData, is not
    addressed to ``identity`` or does not decrypt.
    """
    if not isinstance(identity.private_key, rsa.RSAPrivateKey):
        raise SmimeError("decrypting needs an RSA gateway key; cryptography 50 supports no other")
    try:
        return pkcs7.pkcs7_decrypt_der(enveloped_der, identity.certificate, identity.private_key, [])
    except ValueError as error:
        raise SmimeError(f"S/MIME decryption failed: {error}") from error


def _sign(content: bytes, identity: SmimeIdentity, options: list[pkcs7.PKCS7Options]) -> bytes:
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(identity.certificate, identity.private_key, hashes.SHA256())
    )
    return builder.sign(Encoding.DER, options)


def _encrypt_with_openssl(content: bytes, recipient: x509.Certificate) -> bytes:
    with tempfile.TemporaryDirectory(prefix="imip-smime-") as folder:
        recipient_file = Path(folder) / "recipient.pem"
        recipient_file.write_bytes(recipient.public_bytes(Encoding.PEM))
        result = run_openssl(
            ["cms", "-encrypt", "-binary", "-aes256", "-outform", "DER", "-recip", str(recipient_file)],
            input_bytes=content,
        )
    if result.returncode != 0 or not result.stdout:
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SmimeError(f"openssl cms -encrypt to an EC certificate failed: {detail[-1] if detail else 'no output'}")
    return result.stdout


def _load_private_key(data: bytes, password: bytes | None) -> SigningKey:
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password or None)
        else:
            key = serialization.load_der_private_key(data, password or None)
    except (ValueError, TypeError) as error:
        # The message never includes the password, only what went wrong.
        raise KeyImportError(f"cannot load the S/MIME private key: {error}") from error
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise KeyImportError(f"the S/MIME private key is {type(key).__name__}; RSA or EC is needed")
    return key


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise KeyImportError(f"cannot read {path}: {error.strerror}") from error
