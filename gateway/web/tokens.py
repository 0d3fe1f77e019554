"""Signup tokens: 32 random bytes in base64url without padding, stored only as a SHA-256 hash.

The pipeline makes the token when it builds an invitation and the signup
page looks it up, so both import this module and hash the same way. A
plain SHA-256 is enough because the token has 256 bits of entropy: no
dictionary or brute force reaches it, so a slow hash would buy nothing.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

TOKEN_BYTES = 32
# 32 bytes encode to 43 base64url characters once the padding is dropped.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def new_signup_token() -> tuple[str, str]:
    """Make a fresh token; returns it and the hash to store on the UPN row."""
    token = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode("ascii")
    return token, hash_signup_token(token)


def hash_signup_token(token: str) -> str:
    """Return the hex SHA-256 of a token, the value kept in ``upns.signup_token_hash``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_signup_token(text: str) -> bool:
    """Return whether a URL path segment has the token's shape, so malformed ones skip the database."""
    return _TOKEN.fullmatch(text) is not None
