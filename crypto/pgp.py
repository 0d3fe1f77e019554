"""OpenPGP signing, encryption, decryption and verification with gpg.

Every call goes through python-gnupg on the gateway's own home (see
``crypto.gnupg_home``), and every decision is taken from gpg's status lines
by ``crypto.gpg_status``, never from python-gnupg's convenience flags or
from a user ID in a status line. After a good signature, the key named by
VALIDSIG's primary fingerprint is listed from the keyring, and the From
address must be the address of one of its valid user IDs.

gpg is one process per call. These functions block, so async callers run
them through ``crypto.pool.CryptoPool``.
"""

from __future__ import annotations

import datetime
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crypto.binding import normalize_address, user_id_address
from crypto.errors import PgpError
from crypto.gnupg_home import GnupgHome
from crypto.gpg_status import SignatureResult, decide_decryption, decide_signature, parse_status
from crypto.verdict import Reason, Verdict

# Validity letters of gpg's colon listing that make a key or user ID unusable:
# revoked, expired, invalid, disabled.
UNUSABLE_VALIDITY = frozenset("reid")


@dataclass(frozen=True)
class PgpSigner:
    """The gateway's signing key and its passphrase (never printed)."""

    fingerprint: str
    passphrase: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PgpDecrypted:
    """Decrypted content and the verdict on a signature made inside the encryption."""

    content: bytes
    verdict: Verdict


def pgp_sign_encrypt(content: bytes, recipient_fingerprint: str, home: GnupgHome, signer: PgpSigner) -> bytes:
    """Sign and encrypt ``content`` in one pass (RFC 3156 section 6.2); return ASCII armor."""
    result = home.gpg.encrypt(
        content,
        [recipient_fingerprint],
        sign=signer.fingerprint,
        passphrase=signer.passphrase,
        always_trust=True,
        armor=True,
    )
    counts = {line.keyword for line in parse_status(result.stderr)}
    if result.returncode != 0 or "END_ENCRYPTION" not in counts or "SIG_CREATED" not in counts:
        problem = "the recipient key is unusable" if "INV_RECP" in counts else "gpg did not sign and encrypt"
        if "INV_SGNR" in counts:
            problem = "the gateway's signing key is unusable or its passphrase is wrong"
        raise PgpError(f"OpenPGP sign+encrypt to {recipient_fingerprint} failed: {problem}")
    return bytes(result.data)


def decrypt_pgp(
    data: bytes, home: GnupgHome, passphrase: str | None = None, from_address: str | None = None
) -> PgpDecrypted:
    """Decrypt an OpenPGP message addressed to the gateway.

    A missing modification detection code or a failed integrity check is a
    failure. A signature inside the encryption is checked against
    ``from_address``; with none the verdict is ``none``. Raises ``PgpError``
    when the data does not decrypt.
    """
    result = home.gpg.decrypt(data, passphrase=passphrase)
    lines = parse_status(result.stderr)
    decryption = decide_decryption(lines, result.returncode)
    if not decryption.ok:
        raise PgpError(f"OpenPGP decryption failed: {decryption.detail}")

    signature = decide_signature(lines, 0)
    if signature.reason is Reason.NO_SIGNER:
        return PgpDecrypted(bytes(result.data), Verdict.none())
    return PgpDecrypted(bytes(result.data), _verdict(signature, from_address or "", home))


def verify_pgp_detached(signed_bytes: bytes, signature: bytes, from_address: str, home: GnupgHome) -> Verdict:
    """Verify a detached signature (PGP/MIME multipart/signed) over ``signed_bytes``.

    ``signed_bytes`` is the first part exactly as received. Raises
    ``PgpError`` when ``signature`` contains no OpenPGP signature at all.
    """
    with tempfile.TemporaryDirectory(prefix="imip-pgp-") as folder:
        signature_file = Path(folder) / "signature.asc"
        signature_file.write_bytes(signature)
        result = home.gpg.verify_data(str(signature_file), signed_bytes)
    lines = parse_status(result.stderr)
    decision = decide_signature(lines, result.returncode)
    if decision.reason is Reason.NO_SIGNER and any(line.keyword == "NODATA" for line in lines):
        raise PgpError("not an OpenPGP signature: gpg found no signature data")
    return _verdict(decision, from_address, home)


def _verdict(decision: SignatureResult, from_address: str, home: GnupgHome) -> Verdict:
    if not decision.is_good or decision.fingerprint is None:
        reason = decision.reason or Reason.BAD_SIGNATURE
        return Verdict.invalid("pgp", reason, decision.detail, decision.fingerprint)
    fingerprint = decision.fingerprint

    key, user_id_validity = _list_key(fingerprint, home)
    if key is None:
        return Verdict.invalid("pgp", Reason.UNKNOWN_SIGNER, "the signing key is not in the keyring", fingerprint)
    problem = _key_problem(key)
    if problem:
        return Verdict.invalid("pgp", problem[0], problem[1], fingerprint)

    addresses = [
        address
        for user_id, validity in user_id_validity.items()
        if validity not in UNUSABLE_VALIDITY and (address := user_id_address(user_id))
    ]
    wanted = normalize_address(from_address)
    if not wanted or wanted not in addresses:
        bound = ", ".join(addresses) or "no address"
        return Verdict.invalid("pgp", Reason.NOT_BOUND, f"key has user IDs for {bound}, From is {from_address or 'missing'}", fingerprint)
    return Verdict.valid("pgp", wanted, fingerprint)


def _list_key(fingerprint: str, home: GnupgHome) -> tuple[dict[str, Any] | None, dict[str, str]]:
    listing = home.gpg.list_keys(keys=[fingerprint])
    keys = [key for key in listing if str(key.get("fingerprint", "")).upper() == fingerprint]
    if len(keys) != 1:
        return None, {}
    key = keys[0]
    validity = {user_id: str(listing.uid_map.get(user_id, {}).get("trust", "")) for user_id in key.get("uids", [])}
    return key, validity


def _key_problem(key: dict[str, Any]) -> tuple[Reason, str] | None:
    validity = str(key.get("trust", ""))
    if validity == "r":
        return Reason.REVOKED, "the signing key is revoked"
    expires = str(key.get("expires") or "")
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    if validity == "e" or (expires.isdigit() and int(expires) < now):
        return Reason.EXPIRED, "the signing key has expired"
    if validity in UNUSABLE_VALIDITY:
        return Reason.UNTRUSTED_CHAIN, f"gpg marks the signing key unusable (validity {validity})"
    return None
