"""Failed-login limits for ``/auth`` and ``/auth/otp``, per UPN and per client address.

The counts live in memory, per process: the gateway runs as one process,
and a restart forgetting them costs an attacker's guesses nothing worth
persisting. Each key keeps the times of its recent failures (a sliding
window), and the number of keys is capped so a flood of made-up addresses
cannot grow memory without bound.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from gateway.logs import event, get_logger
from gateway.metrics import AUTH_LOCKOUTS

log = get_logger("web")

WINDOW_SECONDS = 15 * 60
UPN_FAILURE_LIMIT = 5
CLIENT_FAILURE_LIMIT = 20
# With the limits above, 100,000 keys of at most 20 timestamps stay within tens of MiB.
MAX_KEYS = 100_000


@dataclass(frozen=True)
class Lockout:
    """A refused attempt: which limit applies and when to try again."""

    scope: str
    retry_after: int


class FailureWindow:
    """Failure times per key within a sliding window, and the lock-out they cause."""

    def __init__(self, scope: str, limit: int, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS) -> None:
        self.scope = scope
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or None when it is not locked out."""
        failures = self._recent(key)
        if len(failures) < self.limit:
            return None
        # The lock lifts when the oldest failure that still counts leaves the window.
        oldest_counted = failures[-self.limit]
        return max(1, math.ceil(oldest_counted + self.window - self.clock()))

    def record_failure(self, key: str) -> bool:
        """Count one failure; returns True when this failure starts a lock-out."""
        failures = self._recent(key)
        failures.append(self.clock())
        self._failures[key] = failures
        self._failures.move_to_end(key)
        while len(failures) > self.limit:
            failures.popleft()
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)
        return len(failures) == self.limit

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        cutoff = self.clock() - self.window
        while failures and failures[0] <= cutoff:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures


class LoginLimiter:
    """The two limits every failed login counts against: its UPN and its client address."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.by_upn = FailureWindow("upn", UPN_FAILURE_LIMIT, clock=clock)
        self.by_client = FailureWindow("client", CLIENT_FAILURE_LIMIT, clock=clock)

    def check(self, upn: str, client: str) -> Lockout | None:
        """Return the lock-out that refuses this attempt, or None to let it be checked."""
        for window, key in ((self.by_upn, upn), (self.by_client, client)):
            seconds = window.retry_after(key)
            if seconds is not None:
                return Lockout(window.scope, seconds)
        return None

    def record_failure(self, upn: str, client: str, endpoint: str) -> None:
        """Count a failed attempt against both limits and log each lock-out once, when it starts."""
        for window, key in ((self.by_upn, upn), (self.by_client, client)):
            if window.record_failure(key):
                AUTH_LOCKOUTS.labels(scope=window.scope).inc()
                event(
                    log, logging.WARNING, "lockout", scope=window.scope, upn=upn, client=client,
                    endpoint=endpoint, failures=window.limit, window_seconds=int(window.window),
                )

    def record_success(self, upn: str) -> None:
        """Forget the UPN's failures; the client's stay, so one good account cannot reset guessing at others."""
        self.by_upn.clear(upn)
