"""The HTTP side's server secret, kept in ``<state_dir>/web-secret``.

It keys the fake OTP challenges for unknown addresses and the signup
form's CSRF tokens. Both must stay the same across restarts (a fake
challenge that changed on restart would tell an observer the address is
unknown), so the secret lives in a file rather than in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from gateway.errors import GatewayError

SECRET_FILE_NAME = "web-secret"
SECRET_BYTES = 32


def load_or_create_secret(state_dir: Path) -> bytes:
    """Read the secret, creating the file readable by its owner only on first use."""
    path = state_dir / SECRET_FILE_NAME
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(secrets.token_bytes(SECRET_BYTES))
        handle.flush()
        os.fsync(handle.fileno())
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    data = path.read_bytes()
    if len(data) < SECRET_BYTES:
        # A short file is what a crash between create and write leaves behind.
        raise GatewayError(
            f"invalid server secret {path}: it has {len(data)} bytes instead of {SECRET_BYTES}; delete it and restart to make a new one"
        )
    return data


def derive_key(secret: bytes, purpose: str) -> bytes:
    """Return a separate key per use, so a value computed for one purpose is useless for another."""
    return hmac.new(secret, purpose.encode("ascii"), hashlib.sha256).digest()
