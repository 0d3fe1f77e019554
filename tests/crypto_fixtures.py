"""Constants and helpers shared by the crypto tests and their fixtures.

The fixtures themselves live in ``tests/conftest_crypto.py``; this module
contains the constants, helpers and result types that tests import.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

GUEST = "guest@remote.example"
OTHER = "other@remote.example"
MALLORY = "mallory@evil.example"
GATEWAY = "calendar@cal.example.com"

# A REPLY as a MIME entity with canonical CRLF line ends, as it sits in the
# first part of a multipart/signed.
CALENDAR_PART = (
    b"Content-Type: text/calendar; charset=UTF-8; method=REPLY\r\n"
    b"\r\n"
    b"BEGIN:VCALENDAR\r\n"
    b"VERSION:2.0\r\n"
    b"METHOD:REPLY\r\n"
    b"BEGIN:VEVENT\r\n"
    b"UID:event-1@cal.example.com\r\n"
    b"DTSTAMP:20261204T101500Z\r\n"
    b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:guest@remote.example\r\n"
    b"END:VEVENT\r\n"
    b"END:VCALENDAR\r\n"
)
TAMPERED_PART = CALENDAR_PART.replace(b"ACCEPTED", b"DECLINED")

OPENSSL_EXTENSIONS = """\
[ca]
default_ca = ca_default
[ca_default]
dir = {folder}
database = {folder}/index.txt
serial = {folder}/serial
crlnumber = {folder}/crlnumber
new_certs_dir = {folder}/issued
default_md = sha256
default_crl_days = 30
policy = policy_any
copy_extensions = none
unique_subject = no
[policy_any]
commonName = supplied
emailAddress = optional
[req]
distinguished_name = req_name
[req_name]
[ca_extensions]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[mail_extensions]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = email:$ENV::MAIL_ADDRESS
[legacy_extensions]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def require_tool(name: str) -> str:
    """Return the path of a command-line tool; fail under CI=true, skip otherwise."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def run(command: Sequence[str | Path], stdin: bytes = b"", env: dict[str, str] | None = None) -> bytes:
    """Run a fixture command, failing with its output when it fails."""
    result = subprocess.run([str(part) for part in command], input=stdin, capture_output=True, env=env, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{command[0]} {command[1]} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout


def multipart_signed(part: bytes, signature: bytes, protocol: str) -> bytes:
    """Build a multipart/signed message body around ``part``, as a test's MIME layer."""
    encoded = base64.encodebytes(signature).replace(b"\n", b"\r\n")
    return (
        f'Content-Type: multipart/signed; protocol="{protocol}"; boundary="sig-b"\r\n\r\n'.encode()
        + b"--sig-b\r\n" + part + b"\r\n--sig-b\r\n"
        + f"Content-Type: {protocol}\r\nContent-Transfer-Encoding: base64\r\n\r\n".encode()
        + encoded + b"\r\n--sig-b--\r\n"
    )  # fmt: skip


def split_multipart_signed(message: bytes) -> tuple[bytes, bytes]:
    """Cut the exact first part and the decoded signature out of ``multipart_signed`` output."""
    body = message.split(b"\r\n\r\n", 1)[1]
    first, second = body.split(b"--sig-b\r\n")[1:3]
    signed_part = first[: -len(b"\r\n")]
    signature = second.split(b"\r\n\r\n", 1)[1].split(b"\r\n--sig-b--")[0]
    return signed_part, base64.b64decode(signature)


# --- S/MIME ------------------------------------------------------------


@dataclass
class Pki:
    """Certificates, keys and signed data made with the openssl command line."""

    folder: Path
    files: dict[str, Path] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.files[name]

    def read(self, name: str) -> bytes:
        return self.files[name].read_bytes()


# --- OpenPGP -----------------------------------------------------------


@dataclass
class PgpWorld:
    """Two GnuPG homes made with the gpg command line, and signed data.

    ``sender_home`` contains the attendees' secret keys. ``gateway_home`` contains
    the gateway's secret key and the attendees' public keys, as an operator
    would have imported them.
    """

    sender_home: Path
    gateway_home: Path
    folder: Path
    fingerprints: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    status_streams: dict[str, str] = field(default_factory=dict)

    def read(self, name: str) -> bytes:
        return self.files[name].read_bytes()

    def gpg(self, home: Path, *arguments: str | Path, stdin: bytes = b"") -> bytes:
        return run(["gpg", "--homedir", home, "--batch", "--yes", "--pinentry-mode", "loopback",
                    "--passphrase", "", *arguments], stdin=stdin)  # fmt: skip


