"""S/MIME verdicts on signatures made with the openssl command line."""

from __future__ import annotations

import datetime
import email.utils

import pytest

from crypto.errors import CryptoError, SmimeError
from crypto.smime import SmimeIdentity, decrypt_smime
from crypto.smime_trust import SmimeTrust
from crypto.smime_verify import unverified_opaque_content, verify_smime_detached, verify_smime_opaque
from crypto.verdict import Reason, outside_signed_part
from tests.crypto_fixtures import CALENDAR_PART, GUEST, TAMPERED_PART, Pki, split_multipart_signed



@pytest.fixture(scope="module")
def trust(pki: Pki) -> SmimeTrust:
    return SmimeTrust.load(pki.path("ca"), crl_files=[pki.path("crl")])


def test_detached_signature_valid(pki: Pki, trust: SmimeTrust) -> None:
    verdict = verify_smime_detached(CALENDAR_PART, pki.read("sig_guest"), GUEST, trust)

    assert verdict.status == "valid", verdict
    assert verdict.signer == GUEST
    assert verdict.protocol == "smime"
    assert verdict.fingerprint and len(verdict.fingerprint) == 64


def test_from_compared_case_insensitively(pki: Pki, trust: SmimeTrust) -> None:
    verdict = verify_smime_detached(CALENDAR_PART, pki.read("sig_guest"), "Guest@Remote.Example", trust)

    assert verdict.status == "valid", verdict


def test_opaque_signature_valid_returns_content(pki: Pki, trust: SmimeTrust) -> None:
    verdict, content = verify_smime_opaque(pki.read("opaque_guest"), GUEST, trust)

    assert verdict.status == "valid", verdict
    assert content == CALENDAR_PART


def test_legacy_email_address_binds_without_san(pki: Pki, trust: SmimeTrust) -> None:
    verdict = verify_smime_detached(CALENDAR_PART, pki.read("sig_legacy"), GUEST, trust)

    assert verdict.status == "valid", verdict


def test_imported_certificate_is_trusted(pki: Pki) -> None:
    imported_only = SmimeTrust.load(imported=[pki.read("rogue_guest_cert")])

    verdict = verify_smime_detached(CALENDAR_PART, pki.read("sig_rogue"), GUEST, imported_only)

    assert verdict.status == "valid", verdict


@pytest.mark.parametrize(
    ("signature", "content", "reason"),
    [
        ("sig_other", CALENDAR_PART, Reason.NOT_BOUND),
        ("sig_rogue", CALENDAR_PART, Reason.UNTRUSTED_CHAIN),
        ("sig_expired", CALENDAR_PART, Reason.EXPIRED),
        ("sig_revoked", CALENDAR_PART, Reason.REVOKED),
        ("sig_guest", TAMPERED_PART, Reason.BAD_SIGNATURE),
        ("sig_two", CALENDAR_PART, Reason.SEVERAL_SIGNERS),
        ("no_signer", CALENDAR_PART, Reason.NO_SIGNER),
        ("opaque_tampered", CALENDAR_PART, Reason.CONTENT_OUTSIDE),
        ("sig_noattr", CALENDAR_PART, Reason.BAD_SIGNATURE),
    ],
)
def test_detached_signature_rejected(pki: Pki, trust: SmimeTrust, signature: str, content: bytes, reason: Reason) -> None:
    verdict = verify_smime_detached(content, pki.read(signature), GUEST, trust)

    assert verdict.status == "invalid"
    assert verdict.reason is reason, verdict


def test_opaque_invalid_returns_no_content(pki: Pki, trust: SmimeTrust) -> None:
    verdict, content = verify_smime_opaque(pki.read("opaque_tampered"), "someone@else.example", trust)

    assert verdict.reason is Reason.NOT_BOUND
    assert content is None
    assert unverified_opaque_content(pki.read("opaque_tampered")) == TAMPERED_PART


def test_unknown_signer_without_certificate(pki: Pki, trust: SmimeTrust) -> None:
    # -nocerts leaves the certificate out, and nothing imported matches it.
    import subprocess

    signature = subprocess.run(
        ["openssl", "cms", "-sign", "-binary", "-nocerts", "-signer", str(pki.path("guest_cert")),
         "-inkey", str(pki.path("guest_key")), "-outform", "DER"],
        input=CALENDAR_PART, capture_output=True, check=True,
    ).stdout  # fmt: skip

    verdict = verify_smime_detached(CALENDAR_PART, signature, GUEST, trust)

    assert verdict.reason is Reason.UNKNOWN_SIGNER


def test_display_name_showing_attendee_address(pki: Pki, trust: SmimeTrust) -> None:
    # The display name shows the attendee's address, but the address is another.
    # The binding is only ever given the parsed address.
    _, address = email.utils.parseaddr(f'"{GUEST}" <{"other@remote.example"}>')

    verdict = verify_smime_detached(CALENDAR_PART, pki.read("sig_guest"), address, trust)

    assert verdict.reason is Reason.NOT_BOUND


def test_calendar_beside_signed_part(pki: Pki, trust: SmimeTrust) -> None:
    # multipart/mixed holding a signed part and an unsigned calendar beside it.
    signature = pki.read("sig_guest")
    signed_verdict = verify_smime_detached(CALENDAR_PART, signature, GUEST, trust)
    assert signed_verdict.is_valid
    calendar_inside_signed_part = TAMPERED_PART in CALENDAR_PART

    verdict = signed_verdict if calendar_inside_signed_part else outside_signed_part(signed_verdict)

    assert verdict.status == "invalid"
    assert verdict.reason is Reason.CONTENT_OUTSIDE


def test_certificate_not_yet_valid(pki: Pki, trust: SmimeTrust) -> None:
    past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)

    verdict = verify_smime_detached(CALENDAR_PART, pki.read("sig_guest"), GUEST, trust, now=past)

    assert verdict.reason is Reason.EXPIRED


def test_no_trust_configured(pki: Pki) -> None:
    verdict = verify_smime_detached(CALENDAR_PART, pki.read("sig_guest"), GUEST, SmimeTrust())

    assert verdict.reason is Reason.UNTRUSTED_CHAIN


def test_signed_then_encrypted_to_gateway(pki: Pki, trust: SmimeTrust) -> None:
    identity = SmimeIdentity.load(pki.read("gateway_cert"), pki.read("gateway_key"))

    inner = decrypt_smime(pki.read("enveloped_signed"), identity)
    signed_part, signature = split_multipart_signed(inner)
    verdict = verify_smime_detached(signed_part, signature, GUEST, trust)

    assert signed_part == CALENDAR_PART
    assert verdict.status == "valid", verdict


@pytest.mark.parametrize("garbage", [b"", b"garbage", b"\x30\x80", b"\x30\x03\x02\x01", b"0" * 5000, b"\x30" * 100])
def test_garbage_signature_raises_smime_error(pki: Pki, trust: SmimeTrust, garbage: bytes) -> None:
    with pytest.raises(SmimeError):
        verify_smime_detached(CALENDAR_PART, garbage, GUEST, trust)
    with pytest.raises(SmimeError):
        verify_smime_opaque(garbage, GUEST, trust)


@pytest.mark.parametrize("garbage", [b"", b"garbage", b"\x30\x80\x00\x00"])
def test_garbage_decrypt_raises_crypto_error(pki: Pki, garbage: bytes) -> None:
    identity = SmimeIdentity.load(pki.read("gateway_cert"), pki.read("gateway_key"))

    with pytest.raises(CryptoError):
        decrypt_smime(garbage, identity)


def test_decrypt_not_addressed_to_gateway(pki: Pki) -> None:
    identity = SmimeIdentity.load(pki.read("guest_cert"), pki.read("guest_key"))

    with pytest.raises(SmimeError):
        decrypt_smime(pki.read("enveloped_signed"), identity)
