"""Keystore records: what the gateway stores about each certificate and key.

A record contains what choosing an encryption key and pinning a signer need:
the addresses the certificate or key binds, its fingerprint, expiry and
revocation, and the public material itself (PEM certificate or armored
OpenPGP key). The store persists records as plain dictionaries, so this
module also converts them to and from that form.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from crypto.binding import certificate_addresses, user_id_address
from crypto.errors import KeyImportError
from crypto.gnupg_home import GnupgHome
from crypto.smime_trust import certificate_fingerprint, load_certificate

KeyKind = Literal["smime", "pgp"]


@dataclass(frozen=True)
class KeyRecord:
    """One certificate or OpenPGP public key, as the keystore keeps it."""

    kind: KeyKind
    fingerprint: str
    addresses: tuple[str, ...]
    not_after: datetime.datetime | None
    revoked: bool
    material: str
    own: bool = False

    def is_usable(self, now: datetime.datetime) -> bool:
        """Tell whether the record may be encrypted to: not revoked and not expired at ``now``."""
        return not self.revoked and (self.not_after is None or self.not_after > now)

    def as_dict(self) -> dict[str, Any]:
        """Return the record as the store's ``put_key`` takes it, ``not_after`` in Unix time."""
        return {
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "addresses": list(self.addresses),
            "not_after": self.not_after.timestamp() if self.not_after else None,
            "revoked": self.revoked,
            "material": self.material,
            "own": self.own,
        }

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> KeyRecord:
        not_after = fields.get("not_after")
        if isinstance(not_after, (int, float)):
            not_after = datetime.datetime.fromtimestamp(not_after, datetime.timezone.utc)
        elif isinstance(not_after, str):
            not_after = datetime.datetime.fromisoformat(not_after)
        addresses = fields.get("addresses") or ()
        if isinstance(addresses, str):
            addresses = [item for item in addresses.split(",") if item]
        return cls(
            kind=fields["kind"],
            fingerprint=fields["fingerprint"],
            addresses=tuple(addresses),
            not_after=not_after,
            revoked=bool(fields.get("revoked")),
            material=fields["material"],
            own=bool(fields.get("own")),
        )


def parse_certificate(data: bytes) -> KeyRecord:
    """Read a PEM or DER certificate into a record; raise ``KeyImportError`` if unreadable."""
    certificate = load_certificate(data)
    return KeyRecord(
        kind="smime",
        fingerprint=certificate_fingerprint(certificate),
        addresses=tuple(certificate_addresses(certificate)),
        not_after=certificate.not_valid_after_utc,
        revoked=False,
        material=certificate.public_bytes(Encoding.PEM).decode("ascii"),
    )


def split_pem_certificates(data: bytes) -> list[bytes]:
    """Split a file into its certificates: every PEM block, or the whole file as one DER."""
    if b"-----BEGIN CERTIFICATE-----" not in data:
        return [data]
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise KeyImportError(f"unreadable PEM certificate: {error}") from error
    return [certificate.public_bytes(Encoding.PEM) for certificate in certificates]


def parse_pgp_public_keys(data: bytes, home: GnupgHome) -> list[KeyRecord]:
    """Read armored or binary OpenPGP keys into records without importing them.

    The ``material`` of these records is empty; ``import_pgp_public_keys``
    fills it from the keyring after a real import.
    """
    scan = home.gpg.scan_keys_mem(data)
    if scan.returncode != 0 or not list(scan):
        raise KeyImportError("no OpenPGP key found in the data")
    return [_pgp_record(key, scan.uid_map, material="") for key in scan]


def import_pgp_public_keys(data: bytes, home: GnupgHome) -> list[KeyRecord]:
    """Import OpenPGP public keys into the gateway's keyring and return their records.

    Secret keys are rejected, because an attendee's file should never carry
    one and the gateway must not hold it.
    """
    scanned = parse_pgp_public_keys(data, home)
    secret = home.gpg.scan_keys_mem(data)
    if any(key.get("type") == "sec" for key in secret):
        raise KeyImportError("the file contains a secret key; import it with --own only if it is the gateway's")

    result = home.gpg.import_keys(data)
    if not result.fingerprints:
        raise KeyImportError("gpg imported no key from the data")
    return [replace(record, material=_export_public(record.fingerprint, home)) for record in scanned]


def import_pgp_secret_key(data: bytes, home: GnupgHome, passphrase: str | None) -> list[KeyRecord]:
    """Import the gateway's own OpenPGP secret key; return the records of its public part."""
    scanned = parse_pgp_public_keys(data, home)
    home.gpg.import_keys(data, passphrase=passphrase)
    secret = home.gpg.list_keys(secret=True, keys=[record.fingerprint for record in scanned])
    owned = {str(key["fingerprint"]).upper() for key in secret}
    if not owned:
        raise KeyImportError("gpg imported no secret key from the data; check the file and the passphrase file")
    return [
        replace(record, material=_export_public(record.fingerprint, home), own=True)
        for record in scanned
        if record.fingerprint in owned
    ]


def choose_encryption_key(
    records: Iterable[KeyRecord], prefer: KeyKind, now: datetime.datetime | None = None
) -> KeyRecord | None:
    """Pick the record to encrypt an invitation to, or None when none is usable.

    Expired and revoked records are skipped. The ``[invitation] prefer``
    kind wins when both kinds are usable, and within a kind the record that
    stays valid longest wins.
    """
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    usable = [record for record in records if not record.own and record.is_usable(moment)]
    for kind in (prefer, "pgp" if prefer == "smime" else "smime"):
        candidates = [record for record in usable if record.kind == kind]
        if candidates:
            return max(candidates, key=_expiry_order)
    return None


def _expiry_order(record: KeyRecord) -> datetime.datetime:
    return record.not_after or datetime.datetime.max.replace(tzinfo=datetime.timezone.utc)


def _pgp_record(key: dict[str, Any], uid_map: dict[str, dict[str, str]], material: str) -> KeyRecord:
    addresses: list[str] = []
    for user_id in key.get("uids", []):
        if uid_map.get(user_id, {}).get("trust") == "r":
            continue
        address = user_id_address(user_id)
        if address and address not in addresses:
            addresses.append(address)
    expires = str(key.get("expires") or "")
    not_after = datetime.datetime.fromtimestamp(int(expires), datetime.timezone.utc) if expires.isdigit() else None
    return KeyRecord(
        kind="pgp",
        fingerprint=str(key["fingerprint"]).upper(),
        addresses=tuple(addresses),
        not_after=not_after,
        revoked=key.get("trust") == "r",
        material=material,
    )


def _export_public(fingerprint: str, home: GnupgHome) -> str:
    armored = home.gpg.export_keys(fingerprint, armor=True)
    if not armored:
        raise KeyImportError(f"gpg exported nothing for key {fingerprint}")
    return str(armored)
