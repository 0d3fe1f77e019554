"""Keystore records, key choice, and the keys command against real files."""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto.errors import KeyImportError
from crypto.gnupg_home import GnupgHome
from crypto.keys import KeyRecord, choose_encryption_key, parse_certificate, parse_pgp_public_keys
from gateway.commands import keys as keys_command
from gateway.errors import GatewayError
from tests.crypto_fixtures import GUEST, PgpWorld, Pki


NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)


def record(kind: str, fingerprint: str, days: int | None = 30, revoked: bool = False) -> KeyRecord:
    not_after = NOW + datetime.timedelta(days=days) if days is not None else None
    return KeyRecord(kind, fingerprint, (GUEST,), not_after, revoked, "material")  # type: ignore[arg-type]


def test_certificate_record_from_pem_and_der(pki: Pki) -> None:
    der = subprocess.run(["openssl", "x509", "-in", str(pki.path("guest_cert")), "-outform", "DER"],
                         capture_output=True, check=True).stdout  # fmt: skip

    from_pem = parse_certificate(pki.read("guest_cert"))
    from_der = parse_certificate(der)

    assert from_pem == from_der
    assert from_pem.kind == "smime"
    assert from_pem.addresses == (GUEST,)
    assert from_pem.not_after is not None
    assert from_pem.material.startswith("-----BEGIN CERTIFICATE-----")


def test_certificate_record_legacy_address(pki: Pki) -> None:
    assert parse_certificate(pki.read("legacy_cert")).addresses == (GUEST,)


def test_certificate_record_rejects_garbage() -> None:
    with pytest.raises(KeyImportError):
        parse_certificate(b"not a certificate")


def test_pgp_records_without_import(pgp_world: PgpWorld, tmp_path: Path) -> None:
    exported = pgp_world.gpg(pgp_world.sender_home, "--armor", "--export", pgp_world.fingerprints["guest"])
    home = GnupgHome(tmp_path / "gnupg")

    records = parse_pgp_public_keys(exported, home)

    assert [item.fingerprint for item in records] == [pgp_world.fingerprints["guest"]]
    assert records[0].addresses == (GUEST,)
    assert records[0].not_after is not None
    assert not home.gpg.list_keys()
    subprocess.run(["gpgconf", "--homedir", str(home.path), "--kill", "gpg-agent"], check=False)


def test_revoked_pgp_key_is_marked(pgp_world: PgpWorld) -> None:
    exported = pgp_world.gpg(pgp_world.gateway_home, "--export", pgp_world.fingerprints["revoked"])

    records = parse_pgp_public_keys(exported, GnupgHome(pgp_world.gateway_home))

    assert records[0].revoked


def test_choice_honours_preference() -> None:
    records = [record("smime", "S"), record("pgp", "P")]

    assert choose_encryption_key(records, "smime", NOW).fingerprint == "S"  # type: ignore[union-attr]
    assert choose_encryption_key(records, "pgp", NOW).fingerprint == "P"  # type: ignore[union-attr]


def test_choice_skips_expired_and_revoked() -> None:
    records = [record("smime", "EXPIRED", days=-1), record("smime", "REVOKED", revoked=True), record("pgp", "P")]

    assert choose_encryption_key(records, "smime", NOW).fingerprint == "P"  # type: ignore[union-attr]
    assert choose_encryption_key(records[:2], "smime", NOW) is None


def test_choice_prefers_longest_valid() -> None:
    records = [record("pgp", "SHORT", days=5), record("pgp", "FOREVER", days=None), record("pgp", "LONG", days=90)]

    assert choose_encryption_key(records, "pgp", NOW).fingerprint == "FOREVER"  # type: ignore[union-attr]


def test_record_round_trips_through_dict() -> None:
    original = record("pgp", "ABC")

    assert KeyRecord.from_dict(original.as_dict()) == original


def run_keys(config: Path, *arguments: str) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-c", "--config")
    keys_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["-c", str(config), "keys", *arguments])
    return int(args.handler(args))


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "gateway.ini"
    path.write_text("[gateway]\nstate_dir = state\n\n[invitation]\nfrom = calendar@cal.example.com\n")
    yield path
    subprocess.run(["gpgconf", "--homedir", str(tmp_path / "state" / "gnupg"), "--kill", "gpg-agent"], check=False)


def test_keys_import_and_list(config: Path, pki: Pki, pgp_world: PgpWorld, capsys: pytest.CaptureFixture[str]) -> None:
    public_key = config.parent / "guest.asc"
    public_key.write_bytes(pgp_world.gpg(pgp_world.sender_home, "--armor", "--export", pgp_world.fingerprints["guest"]))

    status = run_keys(config, "import", str(pki.path("guest_cert")), str(public_key))
    capsys.readouterr()
    run_keys(config, "list", "--json")
    listed = json.loads(capsys.readouterr().out)

    assert status == 0
    assert {row["kind"] for row in listed} == {"smime", "pgp"}
    assert all(row["addresses"] == [GUEST] for row in listed)
    gnupg = GnupgHome(config.parent / "state" / "gnupg")
    assert gnupg.gpg.list_keys(keys=[pgp_world.fingerprints["guest"]])


def test_keys_import_rejects_secret_key(config: Path, pgp_world: PgpWorld) -> None:
    secret = config.parent / "secret.asc"
    secret.write_bytes(pgp_world.gpg(pgp_world.sender_home, "--armor", "--export-secret-keys", pgp_world.fingerprints["mallory"]))

    with pytest.raises(GatewayError, match=r"secret\.asc contains a private key; import the attendee's certificate"):
        run_keys(config, "import", str(secret))


def test_keys_import_rejects_smime_private_key(config: Path, pki: Pki) -> None:
    key = next(path for name, path in pki.files.items() if path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY"))
    with pytest.raises(GatewayError, match="contains a private key; .* or use keys import --own"):
        run_keys(config, "import", str(key))


def test_keys_init_makes_own_keys(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = run_keys(config, "init")
    capsys.readouterr()
    run_keys(config, "list", "--json")
    listed = json.loads(capsys.readouterr().out)

    assert status == 0
    assert sorted(row["kind"] for row in listed) == ["pgp", "smime"]
    assert all(row["own"] for row in listed)
    key_file = config.parent / "state" / "smime" / "gateway-key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_keys_import_own_smime(config: Path, pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    status = run_keys(config, "import", "--own", str(pki.path("gateway_cert")), str(pki.path("gateway_key")))

    assert status == 0
    assert (config.parent / "state" / "smime" / "gateway-cert.pem").read_bytes() == pki.read("gateway_cert")
