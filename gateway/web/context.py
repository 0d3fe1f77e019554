"""The state every handler of the HTTP side shares, stored on the aiohttp application."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from crypto.otp import VerifierState
from gateway.settings import Settings
from gateway.smtp_auth import hash_password
from gateway.web.password_cache import VerifiedPasswords
from gateway.web.ratelimit import LoginLimiter
from gateway.web.secret import derive_key
from store.db import Store

T = TypeVar("T")

WorkersAlive = Callable[[], dict[str, bool]]
# Called after a one-time password was spent at /auth/otp, with the UPN's new
# verifier state, so the service can send a fresh key when few passwords are left.
OtpSpent = Callable[[str, VerifierState], Awaitable[None] | None]


@dataclass
class WebContext:
    settings: Settings
    store: Store
    secret: bytes
    workers_alive: WorkersAlive
    on_otp_spent: OtpSpent | None = None
    clock: Callable[[], float] = time.time
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    # Checked against for unknown users, so a miss costs the same scrypt work as a wrong password.
    dummy_password_hash: str = field(default_factory=lambda: hash_password("not a password of any UPN"))
    verified: VerifiedPasswords = field(init=False)

    def __post_init__(self) -> None:
        self.verified = VerifiedPasswords(derive_key(self.secret, "password-cache"))

    @property
    def csrf_key(self) -> bytes:
        return derive_key(self.secret, "signup-csrf")

    @property
    def challenge_key(self) -> bytes:
        return derive_key(self.secret, "fake-otp-challenge")

    @property
    def secure_cookies(self) -> bool:
        return self.settings.web.public_url.startswith("https://")

    @property
    def public_path(self) -> str:
        """The path the HTTP side is mounted at behind a proxy, without the trailing slash."""
        return urlsplit(self.settings.web.public_url).path.rstrip("/")

    def accepts(self, method: str) -> bool:
        return method in self.settings.activation.accept

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run a blocking store or hashing call in a worker thread, keeping the event loop free."""
        return await asyncio.to_thread(function, *args)


CONTEXT = web.AppKey("context", WebContext)


def context_of(request: web.Request) -> WebContext:
    return request.app[CONTEXT]
