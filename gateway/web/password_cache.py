"""Recently verified ``/auth`` logins, so a CalDAV session does not pay for scrypt on every request.

nginx's ``auth_request`` calls ``/auth`` once per proxied request, and one
calendar sync makes dozens. Each entry is keyed by an HMAC of the address
and password under a key derived from the server secret, so the cache holds
no password, and it remembers the stored hash it was checked against: a new
password, a revocation or a hold invalidates it at once because ``/auth``
reads the UPN row on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable

CACHE_SECONDS = 60.0
MAX_ENTRIES = 10_000


class VerifiedPasswords:
    def __init__(self, key: bytes, clock: Callable[[], float] = time.monotonic,
                 ttl: float = CACHE_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
        self._key = key
        self._clock = clock
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[str, float]] = OrderedDict()

    def _fingerprint(self, address: str, password: str) -> bytes:
        message = address.encode("utf-8") + b"\0" + password.encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def contains(self, address: str, password: str, stored_hash: str) -> bool:
        """Return whether this login was verified against ``stored_hash`` within the cache time."""
        fingerprint = self._fingerprint(address, password)
        entry = self._entries.get(fingerprint)
        if entry is None:
            return False
        checked_hash, expires = entry
        if expires <= self._clock() or not hmac.compare_digest(checked_hash, stored_hash):
            del self._entries[fingerprint]
            return False
        return True

    def add(self, address: str, password: str, stored_hash: str) -> None:
        fingerprint = self._fingerprint(address, password)
        self._entries[fingerprint] = (stored_hash, self._clock() + self._ttl)
        self._entries.move_to_end(fingerprint)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
