"""SMTP AUTH users: the ``name:scrypt-hash`` file that ``smtp-user`` writes.

Each line is ``name:scrypt$<log2 n>$<r>$<p>$<salt>$<hash>`` with base64
salt and hash. Passwords are never stored or logged; verification compares
in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from gateway.errors import GatewayError

# scrypt cost: n = 2**14 with r = 8 takes 16 MiB and tens of milliseconds,
# the interactive-login parameters the scrypt paper recommends.
_LOG2_N, _R, _P = 14, 8, 1
_NAME = re.compile(r"[A-Za-z0-9._@+-]{1,128}")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**_LOG2_N, r=_R, p=_P, dklen=32)
    encode = base64.b64encode
    return f"scrypt${_LOG2_N}${_R}${_P}${encode(salt).decode()}${encode(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash from ``hash_password``; a malformed hash never matches."""
    try:
        scheme, log2_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or not 1 <= int(log2_n) <= 20:
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt, validate=True),
            n=2 ** int(log2_n), r=int(r), p=int(p), dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def read_users(path: Path) -> dict[str, str]:
    """Map each user name to its stored hash; a missing file means no users."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    users = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, stored = line.partition(":")
        if not sep or not _NAME.fullmatch(name):
            raise GatewayError(f"{path}: line {number} is not name:scrypt-hash; rewrite it with smtp-user set")
        users[name] = stored
    return users


def write_users(path: Path, users: dict[str, str]) -> None:
    """Replace the users file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        for name in sorted(users):
            handle.write(f"{name}:{users[name]}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise GatewayError(
            f"invalid SMTP user name {name!r}: use 1 to 128 letters, digits and . _ @ + -"
        )
    return name
