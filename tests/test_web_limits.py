"""Failed-login windows and the client address behind trusted proxies, with a controlled clock."""

from __future__ import annotations

import ipaddress

import pytest
from aiohttp.test_utils import make_mocked_request

from gateway.web.client import Network, client_address
from gateway.web.password_cache import VerifiedPasswords
from gateway.web.ratelimit import FailureWindow, LoginLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_locks_at_limit() -> None:
    clock = Clock()
    window = FailureWindow("upn", limit=3, window=60, clock=clock)
    assert window.record_failure("a") is False
    assert window.record_failure("a") is False
    assert window.retry_after("a") is None
    assert window.record_failure("a") is True
    assert window.retry_after("a") == 60


def test_window_lifts_as_failures_age() -> None:
    clock = Clock()
    window = FailureWindow("upn", limit=2, window=60, clock=clock)
    window.record_failure("a")
    clock.now += 30
    window.record_failure("a")
    assert window.retry_after("a") == 30
    clock.now += 30
    assert window.retry_after("a") is None
    # One failure is still inside the window, so the next one locks again.
    assert window.record_failure("a") is True
    assert window.retry_after("a") == 30


def test_window_caps_keys() -> None:
    window = FailureWindow("client", limit=1, window=60, clock=Clock(), max_keys=2)
    for key in ("a", "b", "c"):
        window.record_failure(key)
    assert window.retry_after("a") is None
    assert window.retry_after("b") == 60
    assert window.retry_after("c") == 60


def test_limiter_checks_both_scopes() -> None:
    limiter = LoginLimiter(clock=Clock())
    for number in range(5):
        limiter.record_failure("guest@remote.example", f"192.0.2.{number}", "auth")
    lockout = limiter.check("guest@remote.example", "198.51.100.1")
    assert lockout is not None
    assert lockout.scope == "upn"
    assert limiter.check("other@remote.example", "192.0.2.1") is None
    limiter.record_success("guest@remote.example")
    assert limiter.check("guest@remote.example", "198.51.100.1") is None


def test_verified_passwords_expire_and_follow_hash() -> None:
    clock = Clock()
    cache = VerifiedPasswords(b"k" * 32, clock=clock, ttl=60)
    cache.add("guest@remote.example", "secret password", "scrypt$hash-1")
    assert cache.contains("guest@remote.example", "secret password", "scrypt$hash-1")
    assert not cache.contains("guest@remote.example", "other password", "scrypt$hash-1")
    assert not cache.contains("guest@remote.example", "secret password", "scrypt$hash-2")
    cache.add("guest@remote.example", "secret password", "scrypt$hash-1")
    clock.now += 61
    assert not cache.contains("guest@remote.example", "secret password", "scrypt$hash-1")


PROXIES: tuple[Network, ...] = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("192.0.2.9", "203.0.113.5", "192.0.2.9"),
        ("10.0.0.2", "203.0.113.5", "203.0.113.5"),
        ("10.0.0.2", "198.51.100.1, 203.0.113.5", "203.0.113.5"),
        ("10.0.0.2", "203.0.113.5, 10.0.0.3", "203.0.113.5"),
        ("10.0.0.2", "garbage, 203.0.113.5", "203.0.113.5"),
        ("10.0.0.2", "203.0.113.5, garbage", "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
        ("::1", "2001:db8::7", "2001:db8::7"),
        ("::ffff:192.0.2.9", "203.0.113.5", "192.0.2.9"),
    ],
)
def test_client_address_from_forwarded_for(peer: str, forwarded: str, expected: str) -> None:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    request = make_mocked_request("GET", "/auth", headers=headers)
    request = request.clone(remote=peer)
    assert client_address(request, PROXIES) == expected
