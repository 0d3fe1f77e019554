"""OpenPGP verdicts, decryption and sign+encrypt against homes made with the gpg command line."""

from __future__ import annotations

import email.utils
import subprocess
from collections.abc import Iterator

import pytest

from crypto.errors import CryptoError, PgpError
from crypto.gnupg_home import GPG_CONF, GnupgHome
from crypto.pgp import PgpSigner, decrypt_pgp, pgp_sign_encrypt, verify_pgp_detached
from crypto.verdict import Reason
from tests.crypto_fixtures import CALENDAR_PART, GUEST, TAMPERED_PART, PgpWorld



@pytest.fixture(scope="module")
def home(pgp_world: PgpWorld) -> Iterator[GnupgHome]:
    yield GnupgHome(pgp_world.gateway_home)


def test_gateway_home_gets_gpg_conf(home: GnupgHome) -> None:
    text = (home.path / "gpg.conf").read_text()

    assert text == GPG_CONF
    for option in ("trust-model always", "no-auto-key-retrieve", "no-auto-key-import", "auto-key-locate local"):
        assert option in text.splitlines()
    assert "verbose" not in text


def test_subkey_signature_valid(pgp_world: PgpWorld, home: GnupgHome) -> None:
    verdict = verify_pgp_detached(CALENDAR_PART, pgp_world.read("sig_guest"), GUEST, home)

    assert verdict.status == "valid", verdict
    assert verdict.protocol == "pgp"
    assert verdict.signer == GUEST
    assert verdict.fingerprint == pgp_world.fingerprints["guest"]


def test_subkey_signature_names_subkey_in_validsig(pgp_world: PgpWorld) -> None:
    validsig = next(line for line in pgp_world.status_streams["sig_guest"].splitlines() if " VALIDSIG " in line)

    assert validsig.split()[2] != pgp_world.fingerprints["guest"]


def test_primary_key_signature_valid(pgp_world: PgpWorld, home: GnupgHome) -> None:
    verdict = verify_pgp_detached(CALENDAR_PART, pgp_world.read("sig_guest_primary"), GUEST, home)

    assert verdict.status == "valid", verdict
    assert verdict.fingerprint == pgp_world.fingerprints["guest"]


@pytest.mark.parametrize(
    ("signature", "content", "reason"),
    [
        ("sig_guest", TAMPERED_PART, Reason.BAD_SIGNATURE),
        ("sig_mallory", CALENDAR_PART, Reason.NOT_BOUND),
        ("sig_expired", CALENDAR_PART, Reason.EXPIRED),
        ("sig_revoked", CALENDAR_PART, Reason.REVOKED),
        ("sig_mallory_then_guest", CALENDAR_PART, Reason.SEVERAL_SIGNERS),
        ("sig_guest_then_mallory", CALENDAR_PART, Reason.SEVERAL_SIGNERS),
        ("sig_eve", CALENDAR_PART, Reason.NOT_BOUND),
    ],
)
def test_signature_rejected(
    pgp_world: PgpWorld, home: GnupgHome, signature: str, content: bytes, reason: Reason
) -> None:
    verdict = verify_pgp_detached(content, pgp_world.read(signature), GUEST, home)

    assert verdict.status == "invalid"
    assert verdict.reason is reason, verdict


def test_injected_user_id_names_own_key(pgp_world: PgpWorld, home: GnupgHome) -> None:
    # Eve's user ID carries GOODSIG and VALIDSIG lines naming the guest's key.
    verdict = verify_pgp_detached(CALENDAR_PART, pgp_world.read("sig_eve"), GUEST, home)

    assert verdict.fingerprint == pgp_world.fingerprints["eve"]
    assert not verdict.is_valid


def test_unknown_key(pgp_world: PgpWorld, tmp_path_factory: pytest.TempPathFactory) -> None:
    empty = GnupgHome(tmp_path_factory.mktemp("empty") / "gnupg")

    verdict = verify_pgp_detached(CALENDAR_PART, pgp_world.read("sig_guest"), GUEST, empty)

    assert verdict.reason is Reason.UNKNOWN_SIGNER
    subprocess.run(["gpgconf", "--homedir", str(empty.path), "--kill", "gpg-agent"], check=False)


def test_display_name_showing_attendee_address(pgp_world: PgpWorld, home: GnupgHome) -> None:
    _, address = email.utils.parseaddr(f'"{GUEST}" <mallory@evil.example>')

    verdict = verify_pgp_detached(CALENDAR_PART, pgp_world.read("sig_guest"), address, home)

    assert verdict.reason is Reason.NOT_BOUND


def test_signed_then_encrypted_to_gateway(pgp_world: PgpWorld, home: GnupgHome) -> None:
    decrypted = decrypt_pgp(pgp_world.read("encrypted_signed"), home, from_address=GUEST)

    assert decrypted.content == CALENDAR_PART
    assert decrypted.verdict.status == "valid", decrypted.verdict
    assert decrypted.verdict.fingerprint == pgp_world.fingerprints["guest"]


def test_injected_file_name_in_encrypted_message(pgp_world: PgpWorld, home: GnupgHome) -> None:
    # Mallory signs; the literal data's file name carries status lines naming the guest.
    decrypted = decrypt_pgp(pgp_world.read("encrypted_filename"), home, from_address=GUEST)

    assert decrypted.verdict.reason is Reason.NOT_BOUND
    assert decrypted.verdict.fingerprint == pgp_world.fingerprints["mallory"]


def test_decrypt_without_signature_has_no_verdict(pgp_world: PgpWorld, home: GnupgHome) -> None:
    encrypted = pgp_world.gpg(pgp_world.sender_home, "--armor", "--encrypt", "--trust-model", "always",
                              "--recipient", pgp_world.fingerprints["gateway"], stdin=CALENDAR_PART)  # fmt: skip

    decrypted = decrypt_pgp(encrypted, home, from_address=GUEST)

    assert decrypted.content == CALENDAR_PART
    assert decrypted.verdict.status == "none"


def test_decrypt_without_mdc_fails(pgp_world: PgpWorld, home: GnupgHome) -> None:
    gateway = pgp_world.fingerprints["gateway"]
    encrypted = pgp_world.gpg(pgp_world.sender_home, "--armor", "--encrypt", "--trust-model", "always",
                              "--rfc2440", "--cipher-algo", "CAST5", "--disable-mdc",
                              "--recipient", gateway, stdin=CALENDAR_PART)  # fmt: skip

    with pytest.raises(PgpError):
        decrypt_pgp(encrypted, home)


def test_decrypt_modified_ciphertext_fails(pgp_world: PgpWorld, home: GnupgHome) -> None:
    binary = pgp_world.gpg(pgp_world.sender_home, "--encrypt", "--trust-model", "always",
                           "--recipient", pgp_world.fingerprints["gateway"], stdin=CALENDAR_PART * 4)  # fmt: skip
    damaged = bytearray(binary)
    damaged[-40] ^= 0x01

    with pytest.raises(PgpError):
        decrypt_pgp(bytes(damaged), home)


@pytest.mark.parametrize("garbage", [b"", b"garbage", b"-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n", b"\x89\x01" * 50])
def test_garbage_raises_project_error(home: GnupgHome, garbage: bytes) -> None:
    with pytest.raises(CryptoError):
        decrypt_pgp(garbage, home)
    with pytest.raises(CryptoError):
        verify_pgp_detached(CALENDAR_PART, garbage, GUEST, home)


def test_sign_encrypt_decrypts_with_gpg(pgp_world: PgpWorld, home: GnupgHome) -> None:
    signer = PgpSigner(pgp_world.fingerprints["gateway"])
    armored = pgp_sign_encrypt(CALENDAR_PART, pgp_world.fingerprints["guest"], home, signer)

    result = subprocess.run(
        ["gpg", "--homedir", str(pgp_world.sender_home), "--batch", "--status-fd", "2", "--decrypt"],
        input=armored, capture_output=True, check=False,
    )

    assert armored.startswith(b"-----BEGIN PGP MESSAGE-----")
    assert result.returncode == 0, result.stderr
    assert result.stdout == CALENDAR_PART
    assert b"[GNUPG:] GOODMDC" in result.stderr
    assert f"[GNUPG:] VALIDSIG ".encode() in result.stderr
    assert pgp_world.fingerprints["gateway"].encode() in result.stderr


def test_sign_encrypt_to_unknown_key_fails(pgp_world: PgpWorld, home: GnupgHome) -> None:
    signer = PgpSigner(pgp_world.fingerprints["gateway"])

    with pytest.raises(PgpError):
        pgp_sign_encrypt(CALENDAR_PART, "0" * 40, home, signer)


def test_signer_repr_hides_passphrase() -> None:
    signer = PgpSigner("ABCD", passphrase="correct horse")

    assert "correct horse" not in repr(signer)
