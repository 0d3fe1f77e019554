"""``imip-gateway keys init|import|list``: the keystore as an operator manages it.

Attendees' certificates and OpenPGP public keys are recorded in the store
with the addresses they bind; OpenPGP keys also go into the gateway's
GnuPG home, because gpg encrypts and verifies only with keys in its
keyring. ``--own`` and ``init`` install the gateway's own keys. With no
``[crypto] smime_cert`` configured, the gateway's S/MIME certificate and
key live at ``own_smime_paths``.
"""

from __future__ import annotations

import argparse
import datetime
import os
from dataclasses import replace
from pathlib import Path

from crypto.errors import CryptoError
from crypto.gnupg_home import GnupgHome
from crypto.keys import (
    KeyRecord,
    import_pgp_public_keys,
    import_pgp_secret_key,
    parse_certificate,
    split_pem_certificates,
)
from crypto.own_keys import identity_pem, make_pgp_key, make_smime_identity
from crypto.smime import SmimeIdentity, read_secret_file
from gateway.commands.common import iso_time, open_cli_store, print_json, print_table
from gateway.errors import GatewayError
from gateway.settings import Settings
from store.db import Store


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("keys", help="make, import and list certificates and OpenPGP keys")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    init = actions.add_parser("init", help="make the gateway's own self-signed certificate and OpenPGP key")
    init.add_argument("--force", action="store_true", help="replace an existing S/MIME certificate and key")
    init.set_defaults(handler=run_init)

    importing = actions.add_parser("import", help="import certificates (PEM, DER) and OpenPGP public keys")
    importing.add_argument("files", nargs="+", metavar="FILE", help="certificate or key file")
    importing.add_argument(
        "--own", action="store_true",
        help="import the gateway's own key pair: a PEM with certificate and key (or the two files), or an OpenPGP secret key",
    )  # fmt: skip
    importing.set_defaults(handler=run_import)

    listing = actions.add_parser("list", help="list known certificates and keys")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=run_list)


def own_smime_paths(settings: Settings) -> tuple[Path, Path]:
    """Return where the gateway's certificate and key are: configured, or under state_dir."""
    if settings.crypto.smime_cert:
        return Path(settings.crypto.smime_cert), Path(settings.crypto.smime_key)
    folder = settings.state_dir / "smime"
    return folder / "gateway-cert.pem", folder / "gateway-key.pem"


def run_init(args: argparse.Namespace) -> int:
    settings, store = open_cli_store(args.config)
    address = settings.invitation_from
    certificate_path, key_path = own_smime_paths(settings)
    try:
        if certificate_path.exists() and not args.force:
            print(f"S/MIME certificate {certificate_path} exists; kept (use --force to replace it)")
        else:
            _write_identity(settings, certificate_path, key_path, address)
        _init_pgp(settings, store, address)
        own_certificate = replace(parse_certificate(certificate_path.read_bytes()), own=True)
        store.put_key(own_certificate.as_dict())
    except CryptoError as error:
        raise GatewayError(f"keys init failed: {error}") from error
    print("warning: the certificate is self-signed; attendees' clients will not trust its signatures")
    return 0


def _write_identity(settings: Settings, certificate_path: Path, key_path: Path, address: str) -> None:
    password_file = settings.crypto.smime_key_password_file
    password = read_secret_file(Path(password_file)) if password_file else None
    certificate_pem, key_pem = identity_pem(make_smime_identity(address), password)
    certificate_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    certificate_path.write_bytes(certificate_pem)
    _write_private(key_path, key_pem)
    protection = "encrypted with the smime_key_password_file passphrase" if password else "unencrypted, mode 0600"
    print(f"wrote S/MIME certificate {certificate_path} for {address} and key {key_path} ({protection})")


def _init_pgp(settings: Settings, store: Store, address: str) -> None:
    home = GnupgHome(settings.gnupg_home)
    if home.gpg.list_keys(secret=True):
        print(f"GnuPG home {home.path} already holds a secret key; no OpenPGP key made")
        return
    passphrase = _pgp_passphrase(settings)
    fingerprint = make_pgp_key(home, address, passphrase)
    armored = str(home.gpg.export_keys(fingerprint, armor=True))
    record = KeyRecord("pgp", fingerprint, (address.lower(),), None, False, armored, own=True)
    store.put_key(record.as_dict())
    print(f"made OpenPGP key {fingerprint} for {address} in {home.path}")


def run_import(args: argparse.Namespace) -> int:
    settings, store = open_cli_store(args.config)
    try:
        records = _import_own(settings, args.files) if args.own else _import_attendees(settings, args.files)
    except CryptoError as error:
        raise GatewayError(f"keys import failed: {error}") from error

    now = datetime.datetime.now(datetime.timezone.utc)
    for record in records:
        store.put_key(record.as_dict())
        addresses = ", ".join(record.addresses) or "no address"
        print(f"imported {record.kind} {record.fingerprint} for {addresses}")
        if not record.addresses:
            print(f"warning: {record.fingerprint} binds no mail address, so nothing will be encrypted to it")
        if not record.is_usable(now):
            print(f"warning: {record.fingerprint} is expired or revoked, so nothing will be encrypted to it")
    return 0


def _import_attendees(settings: Settings, files: list[str]) -> list[KeyRecord]:
    records: list[KeyRecord] = []
    home: GnupgHome | None = None
    for name in files:
        data = _read(Path(name))
        if b"PRIVATE KEY-----" in data or b"BEGIN PGP PRIVATE KEY BLOCK" in data:
            raise GatewayError(
                f"{name} contains a private key; import the attendee's certificate or OpenPGP public key, "
                "or use keys import --own for the gateway's own key pair"
            )
        if _looks_like_certificate(data):
            records += [parse_certificate(block) for block in split_pem_certificates(data)]
            continue
        home = home or GnupgHome(settings.gnupg_home)
        records += import_pgp_public_keys(data, home)
    return records


def _import_own(settings: Settings, files: list[str]) -> list[KeyRecord]:
    data = b"".join(_read(Path(name)) for name in files)
    if b"-----BEGIN CERTIFICATE-----" not in data:
        home = GnupgHome(settings.gnupg_home)
        return import_pgp_secret_key(data, home, _pgp_passphrase(settings))

    password_file = settings.crypto.smime_key_password_file
    password = read_secret_file(Path(password_file)) if password_file else None
    identity = SmimeIdentity.load(data, data, password)
    certificate_pem, key_pem = identity_pem(identity, password)
    certificate_path, key_path = own_smime_paths(settings)
    certificate_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    certificate_path.write_bytes(certificate_pem)
    _write_private(key_path, key_pem)
    return [replace(parse_certificate(certificate_pem), own=True)]


def run_list(args: argparse.Namespace) -> int:
    _, store = open_cli_store(args.config)
    rows = [
        {
            "kind": row["kind"],
            "fingerprint": row["fingerprint"],
            "addresses": row["addresses"],
            "not_after": iso_time(row["not_after"]),
            "revoked": row["revoked"],
            "own": row["own"],
        }
        for row in store.list_keys()
    ]
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        row["addresses"] = ",".join(row["addresses"])
    print_table(rows, ("kind", "fingerprint", "addresses", "not_after", "revoked", "own"), "no keys imported")
    return 0


def _pgp_passphrase(settings: Settings) -> str | None:
    if not settings.crypto.pgp_passphrase_file:
        return None
    return read_secret_file(Path(settings.crypto.pgp_passphrase_file)).decode("utf-8")


def _looks_like_certificate(data: bytes) -> bool:
    if b"-----BEGIN CERTIFICATE-----" in data:
        return True
    if b"-----BEGIN PGP" in data:
        return False
    try:
        parse_certificate(data)
    except CryptoError:
        return False
    return True


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise GatewayError(f"cannot read {path}: {error.strerror}") from error
