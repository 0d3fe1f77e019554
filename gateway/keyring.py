"""The gateway's keys at work: sealing invitations and checking signed replies.

This composes ``crypto`` (signing, encryption, verification on bytes) with
``mime`` (the shapes around those bytes) and the keystore records in
``store``. The gateway's own S/MIME identity and OpenPGP key are made on
the first ``serve`` when none is configured, with a loud warning, because
attendees will not trust a self-signed certificate.
"""

from __future__ import annotations

import datetime
import logging
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from crypto.errors import CryptoError
from crypto.gnupg_home import GnupgHome
from crypto.keys import KeyRecord, choose_encryption_key, parse_certificate
from crypto.own_keys import identity_pem, make_pgp_key, make_smime_identity
from crypto.pgp import PgpSigner, decrypt_pgp, pgp_sign_encrypt, verify_pgp_detached
from crypto.smime import SmimeIdentity, decrypt_smime, encrypt_smime, read_secret_file, sign_smime_detached
from crypto.smime_trust import SmimeTrust, load_certificate
from crypto.smime_verify import unverified_opaque_content, verify_smime_detached, verify_smime_opaque
from crypto.verdict import Reason, Verdict
from gateway.logs import event, get_logger
from gateway.settings import Settings
from mime.errors import MimeError
from mime.signed import PGP, SMIME_OPAQUE, find_encrypted_entity, find_signed_entity, to_crlf
from mime.wrappers import build_pgp_encrypted, build_smime_enveloped, build_smime_signed
from store.db import Store

log = get_logger("keys")


@dataclass(frozen=True)
class Opened:
    """A received message after decryption and signature checks.

    ``content`` is what the calendar may be read from: the signed entity's
    content when the signature is valid, otherwise the (decrypted) message.
    ``decrypted`` is true when an encryption layer addressed to the gateway
    was removed, so the organizer could not read the original.
    ``unwrapped`` is true when ``content`` was taken out of opaque signed
    data whose signature is not valid.
    """

    verdict: Verdict
    content: bytes
    signed_only: bool
    decrypted: bool
    unwrapped: bool = False


def own_smime_paths(settings: Settings) -> tuple[Path, Path]:
    """Return where the gateway's certificate and key are: configured, or under state_dir."""
    if settings.crypto.smime_cert:
        return Path(settings.crypto.smime_cert), Path(settings.crypto.smime_key)
    folder = settings.state_dir / "smime"
    return folder / "gateway-cert.pem", folder / "gateway-key.pem"


class Keyring:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.limits = settings.mime_limits
        self._home: GnupgHome | None = None
        self._identity: SmimeIdentity | None = None
        self._identity_stamp: tuple[int, int] | None = None
        self._configured_fingerprint: str | None = None
        self._trust: SmimeTrust | None = None
        self._trust_stamp: tuple[object, ...] | None = None
        self._signer: PgpSigner | None = None

    # --- own keys -----------------------------------------------------------

    @property
    def home(self) -> GnupgHome:
        if self._home is None:
            self._home = GnupgHome(self.settings.gnupg_home)
        return self._home

    def close(self) -> None:
        """Stop the gpg-agent that gpg started for the gateway's home, which would outlive the service."""
        if self._home is None:
            return
        try:
            subprocess.run(["gpgconf", "--homedir", str(self._home.path), "--kill", "gpg-agent"],
                           capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            event(log, logging.WARNING, "gpg-agent-stop-failed", home=str(self._home.path), error=str(error))

    def ensure_own_keys(self) -> None:
        """Make the gateway's certificate and OpenPGP key when none exists yet."""
        certificate_path, key_path = own_smime_paths(self.settings)
        if not certificate_path.exists():
            if self.settings.crypto.smime_cert:
                raise CryptoError(f"[crypto] smime_cert {certificate_path} does not exist; fix the path or empty it")
            self._make_smime(certificate_path, key_path)
        if not self.settings.crypto.pgp_key and not self._own_pgp_fingerprint():
            self._make_pgp()
        self.identity()
        self.signer()

    def _make_smime(self, certificate_path: Path, key_path: Path) -> None:
        address = self.settings.invitation_from
        password = self._smime_password()
        certificate_pem, key_pem = identity_pem(make_smime_identity(address), password)
        certificate_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        certificate_path.write_bytes(certificate_pem)
        key_path.touch(mode=0o600)
        key_path.write_bytes(key_pem)
        self.store.put_key(replace(parse_certificate(certificate_pem), own=True).as_dict())
        event(log, logging.WARNING, "self-signed-certificate-made", path=str(certificate_path), address=address,
              detail="attendees' clients will not trust it; import a CA-issued one with keys import --own")

    def _make_pgp(self) -> None:
        address = self.settings.invitation_from
        fingerprint = make_pgp_key(self.home, address, self._pgp_passphrase())
        armored = str(self.home.gpg.export_keys(fingerprint, armor=True))
        self.store.put_key(KeyRecord("pgp", fingerprint, (address.lower(),), None, False, armored, own=True).as_dict())
        event(log, logging.WARNING, "pgp-key-made", fingerprint=fingerprint, address=address,
              detail="attendees have not verified this key; publish its fingerprint to them")

    def _own_pgp_fingerprint(self) -> str | None:
        """Return the newest own OpenPGP key in the keystore, so a key imported with --own takes over."""
        for row in reversed(self.store.list_keys()):
            if row["own"] and row["kind"] == "pgp":
                return str(row["fingerprint"])
        return None

    def _smime_password(self) -> bytes | None:
        path = self.settings.crypto.smime_key_password_file
        return read_secret_file(Path(path)) if path else None

    def _pgp_passphrase(self) -> str | None:
        path = self.settings.crypto.pgp_passphrase_file
        return read_secret_file(Path(path)).decode("utf-8") if path else None

    def identity(self) -> SmimeIdentity:
        """Return the gateway's S/MIME identity, read again when ``keys import --own`` replaced the files."""
        certificate_path, key_path = own_smime_paths(self.settings)
        stamp = (certificate_path.stat().st_mtime_ns, key_path.stat().st_mtime_ns)
        if self._identity is None or stamp != self._identity_stamp:
            password_file = self.settings.crypto.smime_key_password_file
            self._identity = SmimeIdentity.from_files(
                certificate_path, key_path, Path(password_file) if password_file else None
            )
            self._identity_stamp = stamp
        return self._identity

    def signer(self) -> PgpSigner:
        """Return the gateway's OpenPGP signing key, picking up an own key imported since start."""
        configured = self.settings.crypto.pgp_key
        if configured and self._configured_fingerprint is None:
            self._configured_fingerprint = self._resolve_pgp_key(configured)
        fingerprint = self._configured_fingerprint if configured else self._own_pgp_fingerprint()
        if fingerprint is None:
            raise CryptoError("the gateway has no OpenPGP key; run keys init or set [crypto] pgp_key")
        if self._signer is None or self._signer.fingerprint != fingerprint:
            self._signer = PgpSigner(fingerprint, self._pgp_passphrase())
        return self._signer

    def _resolve_pgp_key(self, configured: str) -> str:
        for key in self.home.gpg.list_keys(secret=True):
            uids = " ".join(key.get("uids", [])).lower()
            if configured.upper() == str(key["fingerprint"]).upper() or f"<{configured.lower()}>" in uids:
                return str(key["fingerprint"])
        raise CryptoError(f"[crypto] pgp_key {configured!r} matches no secret key in {self.home.path}")

    # --- encrypting to attendees -------------------------------------------

    def encryption_key(self, address: str, now: datetime.datetime | None = None) -> KeyRecord | None:
        """Choose the attendee's usable certificate or key, per ``[invitation] prefer``."""
        records = [KeyRecord.from_dict(row) for row in self.store.keys_for_address(address)]
        return choose_encryption_key(records, self.settings.invitation.prefer, now)  # type: ignore[arg-type]

    def seal(self, content: bytes, recipient: KeyRecord) -> bytes:
        """Sign ``content`` (a MIME entity, CRLF) as the gateway and encrypt it to ``recipient``.

        Returns the encrypted MIME entity; the caller adds the outer headers.
        """
        if recipient.kind == "smime":
            signature = sign_smime_detached(content, self.identity())
            signed = build_smime_signed(content, signature)
            certificate = load_certificate(recipient.material.encode("ascii"))
            return build_smime_enveloped(encrypt_smime(signed, certificate))
        armored = pgp_sign_encrypt(content, recipient.fingerprint, self.home, self.signer())
        return build_pgp_encrypted(armored)

    # --- checking what attendees send --------------------------------------

    def trust(self) -> SmimeTrust:
        """Return the S/MIME trust, parsed again when the keystore, CA bundle or a CRL file changed."""
        rows = self.store.list_keys()
        crypto = self.settings.crypto
        files = [path for path in (crypto.smime_ca_bundle, *crypto.smime_crls) if path]
        stamp = (len(rows), max((row["imported"] for row in rows), default=0.0),
                 tuple(_mtime(path) for path in files))
        if self._trust is None or stamp != self._trust_stamp:
            imported = [row["material"].encode("ascii") for row in rows
                        if row["kind"] == "smime" and not row["own"] and not row["revoked"]]
            self._trust = SmimeTrust.load(crypto.smime_ca_bundle or None, crypto.smime_crls, imported)
            self._trust_stamp = stamp
        return self._trust

    def open(self, raw: bytes, from_address: str) -> Opened:
        """Remove an encryption layer addressed to the gateway and check the root signature.

        A message the gateway cannot decrypt, or whose signature data is
        garbage, yields an invalid verdict rather than an error.
        """
        content, decrypted, inner_verdict = raw, False, Verdict.none()
        try:
            encrypted = find_encrypted_entity(raw, self.limits)
            if encrypted is not None:
                content, inner_verdict = self._decrypt(encrypted.kind, encrypted.ciphertext, from_address)
                decrypted = True
            if inner_verdict.status != "none":
                # PGP signed and encrypted in one pass: the signature covers all of ``content``.
                return Opened(inner_verdict, content, True, decrypted)
            return self._verify_signed(content, from_address, decrypted)
        except (CryptoError, MimeError) as error:
            verdict = Verdict.invalid("pgp" if b"pgp" in raw[:4096].lower() else "smime",
                                      Reason.BAD_SIGNATURE, f"cannot open the message: {error}")
            return Opened(verdict, content, False, decrypted)

    def _decrypt(self, kind: str, ciphertext: bytes, from_address: str) -> tuple[bytes, Verdict]:
        if kind == "smime":
            return decrypt_smime(ciphertext, self.identity()), Verdict.none()
        result = decrypt_pgp(ciphertext, self.home, self._pgp_passphrase(), from_address)
        return result.content, result.verdict

    def _verify_signed(self, content: bytes, from_address: str, decrypted: bool) -> Opened:
        signed = find_signed_entity(content, self.limits)
        if signed is None:
            return Opened(Verdict.none(), content, False, decrypted)
        if signed.kind == SMIME_OPAQUE:
            verdict, inner = verify_smime_opaque(signed.signature, from_address, self.trust())
            if inner is not None:
                return Opened(verdict, inner, True, decrypted)
            # Not proof of anything, but the REPLY inside must still be read: its PW is spent and
            # removed, and a REPLY that proves nothing is quarantined like any other.
            unverified = unverified_opaque_content(signed.signature)
            return Opened(verdict, unverified if unverified is not None else content, False, decrypted,
                          unwrapped=unverified is not None)
        assert signed.signed_bytes is not None
        signed_bytes = to_crlf(signed.signed_bytes)
        if signed.kind == PGP:
            verdict = verify_pgp_detached(signed_bytes, signed.signature, from_address, self.home)
        else:
            verdict = verify_smime_detached(signed_bytes, signed.signature, from_address, self.trust())
        return Opened(verdict, signed_bytes if verdict.is_valid else content, verdict.is_valid, decrypted)


def _mtime(path: str) -> int | None:
    try:
        return Path(path).stat().st_mtime_ns
    except OSError:
        # A missing file is reported by SmimeTrust.load when it is read.
        return None
