"""Making the gateway's own certificate and OpenPGP key for a first run.

The certificate is self-signed, so attendees' clients will not trust it
until the operator replaces it with one from a CA they trust. It is still
enough to encrypt to the gateway and to sign invitations, which is what a
first run needs. Keys are RSA 3072, because cryptography 50 decrypts S/MIME
only with RSA keys, and 3072 bits is the usual size for keys meant to last
beyond 2030 (NIST SP 800-57).
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto.errors import KeyImportError
from crypto.gnupg_home import GnupgHome
from crypto.smime import SmimeIdentity

RSA_BITS = 3072
VALID_DAYS = 730


def make_smime_identity(address: str, common_name: str = "imip-gateway", valid_days: int = VALID_DAYS) -> SmimeIdentity:
    """Generate an RSA key and a self-signed certificate binding ``address`` for signing and encryption."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return SmimeIdentity(certificate, key)


def identity_pem(identity: SmimeIdentity, password: bytes | None) -> tuple[bytes, bytes]:
    """Return the certificate and the private key in PEM, the key encrypted when ``password`` is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    key_pem = identity.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    return identity.certificate.public_bytes(serialization.Encoding.PEM), key_pem


def make_pgp_key(home: GnupgHome, address: str, passphrase: str | None, name: str = "imip-gateway") -> str:
    """Generate the gateway's OpenPGP key in ``home`` and return its fingerprint."""
    parameters: dict[str, object] = {
        "key_type": "RSA",
        "key_length": RSA_BITS,
        "key_usage": "sign",
        "subkey_type": "RSA",
        "subkey_length": RSA_BITS,
        "subkey_usage": "encrypt",
        "name_real": name,
        "name_email": address,
        "expire_date": "0",
    }
    if passphrase:
        parameters["passphrase"] = passphrase
    else:
        parameters["no_protection"] = True
    result = home.gpg.gen_key(home.gpg.gen_key_input(**parameters))
    if not result.fingerprint:
        raise KeyImportError(f"gpg could not generate the gateway's OpenPGP key for {address}")
    return str(result.fingerprint).upper()


def _key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
