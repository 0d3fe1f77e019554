"""What the product signs and encrypts with S/MIME, checked by the openssl command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from crypto.smime import SmimeIdentity, encrypt_smime, sign_smime_detached, sign_smime_opaque
from tests.crypto_fixtures import CALENDAR_PART, Pki



@pytest.fixture(scope="module")
def gateway(pki: Pki) -> SmimeIdentity:
    return SmimeIdentity.load(pki.read("gateway_cert"), pki.read("gateway_key"))


def openssl(*arguments: str | Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, arguments)], input=stdin, capture_output=True, check=False)


def test_detached_signature_verifies_with_openssl(pki: Pki, gateway: SmimeIdentity, tmp_path: Path) -> None:
    (tmp_path / "sig.der").write_bytes(sign_smime_detached(CALENDAR_PART, gateway))
    (tmp_path / "content").write_bytes(CALENDAR_PART)

    result = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "sig.der",
                     "-content", tmp_path / "content", "-CAfile", pki.path("gateway_cert"),
                     "-purpose", "smimesign", "-out", tmp_path / "out")  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out").read_bytes() == CALENDAR_PART


def test_opaque_signature_verifies_with_openssl(pki: Pki, gateway: SmimeIdentity, tmp_path: Path) -> None:
    (tmp_path / "signed.der").write_bytes(sign_smime_opaque(CALENDAR_PART, gateway))

    result = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "signed.der",
                     "-CAfile", pki.path("gateway_cert"), "-out", tmp_path / "out")  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out").read_bytes() == CALENDAR_PART


@pytest.mark.parametrize("recipient", ["guest", "ec_guest"])
def test_encryption_decrypts_with_openssl(pki: Pki, tmp_path: Path, recipient: str) -> None:
    certificate = x509.load_pem_x509_certificate(pki.read(f"{recipient}_cert"))
    (tmp_path / "enveloped.der").write_bytes(encrypt_smime(CALENDAR_PART, certificate))

    result = openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", tmp_path / "enveloped.der",
                     "-recip", pki.path(f"{recipient}_cert"), "-inkey", pki.path(f"{recipient}_key"))  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout == CALENDAR_PART


def test_encryption_uses_aes256(pki: Pki) -> None:
    certificate = x509.load_pem_x509_certificate(pki.read("guest_cert"))
    enveloped = encrypt_smime(CALENDAR_PART, certificate)

    result = openssl("cms", "-cmsout", "-print", "-inform", "DER", stdin=enveloped)

    assert b"aes-256-cbc" in result.stdout


def test_signed_then_encrypted_round_trip(pki: Pki, gateway: SmimeIdentity, tmp_path: Path) -> None:
    certificate = x509.load_pem_x509_certificate(pki.read("guest_cert"))
    signed = sign_smime_opaque(CALENDAR_PART, gateway)
    (tmp_path / "enveloped.der").write_bytes(encrypt_smime(signed, certificate))

    decrypted = openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", tmp_path / "enveloped.der",
                        "-recip", pki.path("guest_cert"), "-inkey", pki.path("guest_key"))  # fmt: skip
    (tmp_path / "signed.der").write_bytes(decrypted.stdout)
    verified = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "signed.der",
                       "-CAfile", pki.path("gateway_cert"))  # fmt: skip

    assert verified.returncode == 0, verified.stderr
    assert verified.stdout == CALENDAR_PART


def test_self_made_identity_signature_valid() -> None:
    from crypto.own_keys import make_smime_identity
    from crypto.smime_trust import SmimeTrust
    from crypto.smime_verify import verify_smime_detached

    identity = make_smime_identity("calendar@cal.example.com")
    trust = SmimeTrust(imported=(identity.certificate,))

    verdict = verify_smime_detached(CALENDAR_PART, sign_smime_detached(CALENDAR_PART, identity), "calendar@cal.example.com", trust)

    assert verdict.status == "valid", verdict
