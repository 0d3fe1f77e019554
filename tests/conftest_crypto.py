"""Session fixtures for the crypto tests: keys, certificates and signed data.

Everything is made per test run with the ``openssl`` and ``gpg`` command
lines, never with the product's own code, so a bug in the product cannot
shape the data it is tested against. Test modules load it with
``pytest_plugins = ["tests.conftest_crypto"]``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.crypto_fixtures import (
    CALENDAR_PART,
    GATEWAY,
    GUEST,
    MALLORY,
    OPENSSL_EXTENSIONS,
    OTHER,
    TAMPERED_PART,
    PgpWorld,
    Pki,
    multipart_signed,
    require_tool,
    run,
)


class _CertificateAuthority:
    def __init__(self, folder: Path, name: str, openssl: str) -> None:
        self.folder = folder / name
        (self.folder / "issued").mkdir(parents=True)
        (self.folder / "index.txt").write_text("")
        (self.folder / "serial").write_text("1000\n")
        (self.folder / "crlnumber").write_text("01\n")
        self.config = self.folder / "openssl.cnf"
        self.config.write_text(OPENSSL_EXTENSIONS.format(folder=self.folder))
        self.openssl = openssl
        self.key = self.folder / "ca.key"
        self.certificate = self.folder / "ca.pem"
        run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
             "-out", self.certificate, "-subj", f"/CN={name}", "-days", "30",
             "-config", self.config, "-extensions", "ca_extensions"], env=self._env(""))  # fmt: skip

    def _env(self, address: str) -> dict[str, str]:
        return {**os.environ, "MAIL_ADDRESS": address or "none@invalid.example"}

    def issue(self, name: str, address: str, start: str | None = None, end: str | None = None,
              legacy: bool = False, key_type: str = "rsa:2048") -> tuple[Path, Path]:  # fmt: skip
        key = self.folder / f"{name}.key"
        request = self.folder / f"{name}.csr"
        certificate = self.folder / f"{name}.pem"
        subject = f"/CN={name}/emailAddress={address}" if legacy else f"/CN={name}"
        key_options = ["-newkey", key_type] if ":" in key_type else ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{key_type}"]
        run([self.openssl, "req", "-new", *key_options, "-nodes", "-keyout", key, "-out", request,
             "-subj", subject, "-config", self.config], env=self._env(address))  # fmt: skip
        dates = ["-startdate", start, "-enddate", end] if start and end else ["-days", "20"]
        run([self.openssl, "ca", "-batch", "-config", self.config, "-in", request, "-out", certificate,
             "-cert", self.certificate, "-keyfile", self.key, "-notext", *dates,
             "-extensions", "legacy_extensions" if legacy else "mail_extensions"], env=self._env(address))  # fmt: skip
        return certificate, key

    def revoke(self, certificate: Path) -> Path:
        crl = self.folder / "crl.pem"
        run([self.openssl, "ca", "-config", self.config, "-revoke", certificate,
             "-cert", self.certificate, "-keyfile", self.key], env=self._env(""))  # fmt: skip
        run([self.openssl, "ca", "-config", self.config, "-gencrl", "-out", crl,
             "-cert", self.certificate, "-keyfile", self.key], env=self._env(""))  # fmt: skip
        return crl


def _cms_sign(openssl: str, folder: Path, name: str, content: bytes, signers: list[tuple[Path, Path]],
              detached: bool = True, extra: Sequence[str] = ()) -> Path:  # fmt: skip
    content_file = folder / f"{name}.content"
    content_file.write_bytes(content)
    output = folder / f"{name}.der"
    signer_options: list[str | Path] = []
    for certificate, key in signers:
        signer_options += ["-signer", certificate, "-inkey", key]
    mode = [] if detached else ["-nodetach"]
    run([openssl, "cms", "-sign", "-binary", "-md", "sha256", *mode, *signer_options, *extra,
         "-in", content_file, "-outform", "DER", "-out", output])  # fmt: skip
    return output


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    openssl = require_tool("openssl")
    folder = tmp_path_factory.mktemp("pki")
    world = Pki(folder)
    trusted = _CertificateAuthority(folder, "Trusted Test CA", openssl)
    rogue = _CertificateAuthority(folder, "Rogue Test CA", openssl)
    files = world.files
    files["ca"] = trusted.certificate
    files["rogue_ca"] = rogue.certificate

    guest = trusted.issue("guest", GUEST)
    other = trusted.issue("other", OTHER)
    rogue_guest = rogue.issue("rogue-guest", GUEST)
    expired = trusted.issue("expired-guest", GUEST, start="20200101000000Z", end="20200201000000Z")
    revoked = trusted.issue("revoked-guest", GUEST)
    legacy = trusted.issue("legacy-guest", GUEST, legacy=True)
    ec_guest = trusted.issue("ec-guest", GUEST, key_type="P-256")
    files["crl"] = trusted.revoke(revoked[0])
    for name, (certificate, key) in {
        "guest": guest, "other": other, "rogue_guest": rogue_guest, "expired": expired,
        "revoked": revoked, "legacy": legacy, "ec_guest": ec_guest,
    }.items():  # fmt: skip
        files[f"{name}_cert"], files[f"{name}_key"] = certificate, key

    files["gateway_key"] = folder / "gateway.key"
    files["gateway_cert"] = folder / "gateway.pem"
    run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", files["gateway_key"],
         "-out", files["gateway_cert"], "-subj", "/CN=gateway", "-days", "20",
         "-addext", f"subjectAltName=email:{GATEWAY}",
         "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
         "-addext", "extendedKeyUsage=emailProtection"])  # fmt: skip

    _sign_smime_cases(openssl, world, guest, other, rogue_guest, expired, revoked, legacy)
    return world


def _sign_smime_cases(openssl: str, world: Pki, guest: tuple[Path, Path], other: tuple[Path, Path],
                      rogue_guest: tuple[Path, Path], expired: tuple[Path, Path],
                      revoked: tuple[Path, Path], legacy: tuple[Path, Path]) -> None:  # fmt: skip
    folder, files = world.folder, world.files
    files["sig_guest"] = _cms_sign(openssl, folder, "sig_guest", CALENDAR_PART, [guest])
    files["opaque_guest"] = _cms_sign(openssl, folder, "opaque_guest", CALENDAR_PART, [guest], detached=False)
    files["sig_other"] = _cms_sign(openssl, folder, "sig_other", CALENDAR_PART, [other])
    files["sig_rogue"] = _cms_sign(openssl, folder, "sig_rogue", CALENDAR_PART, [rogue_guest])
    files["sig_expired"] = _cms_sign(openssl, folder, "sig_expired", CALENDAR_PART, [expired])
    files["sig_revoked"] = _cms_sign(openssl, folder, "sig_revoked", CALENDAR_PART, [revoked])
    files["sig_legacy"] = _cms_sign(openssl, folder, "sig_legacy", CALENDAR_PART, [legacy])
    files["sig_two"] = _cms_sign(openssl, folder, "sig_two", CALENDAR_PART, [guest, other])
    files["sig_noattr"] = _cms_sign(openssl, folder, "sig_noattr", CALENDAR_PART, [guest], extra=["-noattr"])
    # An opaque signature over other content, to be sent as the detached
    # signature of CALENDAR_PART.
    files["opaque_tampered"] = _cms_sign(openssl, folder, "opaque_tampered", TAMPERED_PART, [guest], detached=False)
    files["no_signer"] = folder / "no_signer.der"
    run([openssl, "crl2pkcs7", "-nocrl", "-certfile", guest[0], "-outform", "DER", "-out", files["no_signer"]])

    # Signed, wrapped in multipart/signed, then encrypted to the gateway.
    inner = multipart_signed(CALENDAR_PART, files["sig_guest"].read_bytes(), "application/pkcs7-signature")
    (folder / "inner.eml").write_bytes(inner)
    files["enveloped_signed"] = folder / "enveloped_signed.der"
    run([openssl, "cms", "-encrypt", "-binary", "-aes256", "-in", folder / "inner.eml", "-outform", "DER",
         "-out", files["enveloped_signed"], "-recip", files["gateway_cert"]])  # fmt: skip


def _fingerprint(world: PgpWorld, home: Path, user_id: str) -> str:
    listing = world.gpg(home, "--with-colons", "--list-keys", "--", user_id).decode()
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))


def _make_keys(world: PgpWorld) -> None:
    sender, prints = world.sender_home, world.fingerprints
    world.gpg(sender, "--quick-gen-key", f"Guest <{GUEST}>", "ed25519", "cert,sign", "2y")
    prints["guest"] = _fingerprint(world, sender, GUEST)
    world.gpg(sender, "--quick-add-key", prints["guest"], "cv25519", "encr", "2y")
    world.gpg(sender, "--quick-add-key", prints["guest"], "ed25519", "sign", "2y")

    world.gpg(sender, "--quick-gen-key", f"Mallory <{MALLORY}>", "ed25519", "sign", "2y")
    prints["mallory"] = _fingerprint(world, sender, MALLORY)

    # Made and used in 2020 with a one-year lifetime, so it is expired today.
    world.gpg(sender, "--faked-system-time", "20200101T000000", "--quick-gen-key",
              f"Old Guest <old-{GUEST}>", "ed25519", "sign", "1y")  # fmt: skip
    prints["expired"] = _fingerprint(world, sender, f"old-{GUEST}")
    world.gpg(sender, "--quick-add-uid", prints["expired"], f"Guest <{GUEST}>")

    world.gpg(sender, "--quick-gen-key", f"Revoked Guest <{GUEST}>", "ed25519", "sign", "2y")
    prints["revoked"] = next(
        line.split(":")[9]
        for line in world.gpg(sender, "--with-colons", "--list-keys", "--", "Revoked Guest").decode().splitlines()
        if line.startswith("fpr:")
    )

    # User IDs that try to smuggle status lines naming the guest's key.
    injected = (
        f"Eve <eve@evil.example>\n[GNUPG:] GOODSIG {prints['guest'][-16:]} Guest\n"
        f"[GNUPG:] VALIDSIG {prints['guest']} 2026-01-01 0 0 4 0 22 8 00 {prints['guest']}"
    )
    world.gpg(sender, "--quick-gen-key", injected, "ed25519", "sign", "2y")
    prints["eve"] = _fingerprint(world, sender, "eve@evil.example")


def _make_gateway_home(world: PgpWorld) -> None:
    sender, gateway, prints = world.sender_home, world.gateway_home, world.fingerprints
    world.gpg(gateway, "--quick-gen-key", f"Gateway <{GATEWAY}>", "rsa2048", "sign", "1y")
    prints["gateway"] = _fingerprint(world, gateway, GATEWAY)
    world.gpg(gateway, "--quick-add-key", prints["gateway"], "rsa2048", "encr", "1y")

    for name in ("guest", "mallory", "expired", "revoked", "eve"):
        world.gpg(gateway, "--import", stdin=world.gpg(sender, "--export", prints[name]))
    world.gpg(sender, "--import", stdin=world.gpg(gateway, "--export", prints["gateway"]))

    revocation = (sender / "openpgp-revocs.d" / f"{prints['revoked']}.rev").read_text()
    world.gpg(gateway, "--import", stdin=revocation.replace(":-----BEGIN", "-----BEGIN").encode())


def _sign(world: PgpWorld, name: str, signer: str, content: bytes, *options: str) -> Path:
    data = world.folder / f"{name}.data"
    data.write_bytes(content)
    output = world.folder / f"{name}.asc"
    world.gpg(world.sender_home, *options, "--armor", "--detach-sign", "--local-user", signer,
              "--output", output, data)  # fmt: skip
    return output


def _make_signatures(world: PgpWorld) -> None:
    prints, files = world.fingerprints, world.files
    files["sig_guest"] = _sign(world, "sig_guest", prints["guest"], CALENDAR_PART)
    files["sig_guest_primary"] = _sign(world, "sig_guest_primary", prints["guest"] + "!", CALENDAR_PART)
    files["sig_mallory"] = _sign(world, "sig_mallory", prints["mallory"], CALENDAR_PART)
    files["sig_expired"] = _sign(world, "sig_expired", prints["expired"], CALENDAR_PART,
                                 "--faked-system-time", "20200301T000000")  # fmt: skip
    files["sig_revoked"] = _sign(world, "sig_revoked", prints["revoked"], CALENDAR_PART)
    files["sig_eve"] = _sign(world, "sig_eve", prints["eve"], CALENDAR_PART)

    binary = {}
    for name in ("guest", "mallory"):
        binary[name] = world.gpg(world.sender_home, "--dearmor", stdin=world.read(f"sig_{name}"))
    files["sig_mallory_then_guest"] = world.folder / "mallory_then_guest.sig"
    files["sig_mallory_then_guest"].write_bytes(binary["mallory"] + binary["guest"])
    files["sig_guest_then_mallory"] = world.folder / "guest_then_mallory.sig"
    files["sig_guest_then_mallory"].write_bytes(binary["guest"] + binary["mallory"])

    files["encrypted_signed"] = world.folder / "encrypted_signed.asc"
    world.gpg(world.sender_home, "--armor", "--sign", "--encrypt", "--local-user", prints["guest"],
              "--recipient", prints["gateway"], "--trust-model", "always",
              "--output", files["encrypted_signed"], stdin=CALENDAR_PART)  # fmt: skip
    files["encrypted_filename"] = world.folder / "encrypted_filename.asc"
    world.gpg(world.sender_home, "--armor", "--sign", "--encrypt", "--local-user", prints["mallory"],
              "--recipient", prints["gateway"], "--trust-model", "always",
              "--set-filename", f"x\n[GNUPG:] GOODSIG {prints['guest'][-16:]} Guest\n"
              f"[GNUPG:] VALIDSIG {prints['guest']} 2026-01-01 0 0 4 0 22 8 00 {prints['guest']}\n",
              "--output", files["encrypted_filename"], stdin=CALENDAR_PART)  # fmt: skip


def _record_status_streams(world: PgpWorld) -> None:
    data = world.folder / "sig_guest.data"
    for name in ("sig_guest", "sig_mallory", "sig_expired", "sig_revoked"):
        result = subprocess.run(
            ["gpg", "--homedir", world.gateway_home, "--batch", "--status-fd", "1", "--verify", world.files[name], data],
            capture_output=True, check=False, text=True,
        )
        world.status_streams[name] = result.stdout
    unknown = subprocess.run(
        ["gpg", "--homedir", world.folder / "empty-home", "--batch", "--status-fd", "1", "--verify",
         world.files["sig_guest"], data],
        capture_output=True, check=False, text=True,
    )  # fmt: skip
    world.status_streams["unknown"] = unknown.stdout


@pytest.fixture(scope="session")
def pgp_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgpWorld]:
    require_tool("gpg")
    folder = tmp_path_factory.mktemp("pgp")
    world = PgpWorld(folder / "sender", folder / "gateway", folder)
    for home in (world.sender_home, world.gateway_home, folder / "empty-home"):
        home.mkdir(mode=0o700)
    _make_keys(world)
    _make_gateway_home(world)
    _make_signatures(world)
    _record_status_streams(world)
    yield world
    for home in (world.sender_home, world.gateway_home, folder / "empty-home"):
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], check=False, capture_output=True)
