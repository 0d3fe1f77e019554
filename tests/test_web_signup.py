"""The signup page over real HTTP: GET shows and changes nothing, only the form's POST activates."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.logs import LogfmtFormatter
from gateway.metrics import REGISTRY
from gateway.settings import Settings
from gateway.smtp_auth import check_password
from gateway.web.app import start_web
from gateway.web.tokens import hash_signup_token, looks_like_signup_token, new_signup_token
from store.db import Store, open_store
from tests.harness import make_settings

ADDRESS = "guest@remote.example"
ORGANIZER = "doug@example.com"
PASSWORD = "correct horse battery"
DAY = 86400


def upn_row(store: Store, address: str = ADDRESS) -> dict[str, Any]:
    row = store.get_upn(address)
    assert row is not None, f"no UPN row for {address}"
    return row


def activations(method: str) -> float:
    return REGISTRY.get_sample_value("imip_gateway_activations_total", {"method": method}) or 0.0


@dataclass
class WebGateway:
    settings: Settings
    store: Store
    base_url: str
    session: aiohttp.ClientSession


async def _start(state_dir: Path, **overrides: str) -> tuple[WebGateway, web.AppRunner]:
    settings = make_settings(state_dir, **overrides)
    store = open_store(settings.database_path)
    runner = await start_web(settings, store, workers_alive=lambda: {"pipeline": True, "delivery": True})
    listen = settings.web.listen
    # Each test gets its own cookie jar, as a browser would; unsafe=True keeps cookies for an IP host.
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    return WebGateway(settings, store, f"http://{listen.host}:{listen.port}", session), runner


@pytest.fixture
async def gateway(state_dir: Path) -> AsyncIterator[WebGateway]:
    started, runner = await _start(state_dir)
    yield started
    await started.session.close()
    await runner.cleanup()
    started.store.close()


@pytest.fixture
def web_log() -> Iterator[list[str]]:
    """Every line the HTTP side logs during the test, formatted as the service writes them."""
    lines: list[str] = []
    formatter = LogfmtFormatter()

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    handler = Collect(level=logging.DEBUG)
    logger = logging.getLogger("imip_gateway")
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(previous_level)


def invite(store: Store, address: str = ADDRESS, state: str = "invited", expires_in: float = 14 * DAY) -> str:
    """Create a UPN with a signup token and one event, as the pipeline does; returns the token."""
    token, token_hash = new_signup_token()
    store.create_upn(
        address, address, state, signup_token_hash=token_hash, signup_expires=time.time() + expires_in,
        organizer=f"mailto:{ORGANIZER}",
    )
    store.record_upn_event(address, "budget-2026@example.com", summary="Budget review", start="20261210T150000Z")
    return token


def csrf_field(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None, "the page has no CSRF field"
    return match.group(1)


async def open_form(gateway: WebGateway, token: str) -> str:
    async with gateway.session.get(f"{gateway.base_url}/signup/{token}") as response:
        assert response.status == 200
        return await response.text()


async def submit(gateway: WebGateway, token: str, csrf: str, password: str = PASSWORD,
                 confirm: str | None = None) -> tuple[int, str]:
    form = {"csrf": csrf, "password": password, "confirm": password if confirm is None else confirm}
    async with gateway.session.post(f"{gateway.base_url}/signup/{token}", data=form) as response:
        return response.status, await response.text()


def test_new_signup_token_shape() -> None:
    token, token_hash = new_signup_token()
    assert looks_like_signup_token(token)
    assert "=" not in token
    assert token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert hash_signup_token(token) == token_hash
    assert new_signup_token()[0] != token


async def test_get_shows_invitation_without_activating(gateway: WebGateway) -> None:
    token = invite(gateway.store)
    for _ in range(3):
        page = await open_form(gateway, token)
    assert ORGANIZER in page
    assert "Budget review" in page
    assert "Thursday 10 December 2026, 15:00 UTC" in page
    assert ADDRESS in page
    assert 'method="post"' in page
    row = upn_row(gateway.store)
    assert row["state"] == "invited"
    assert row["password_hash"] is None
    assert row["signup_token_hash"] == hash_signup_token(token)


async def test_post_sets_password_and_activates(gateway: WebGateway, web_log: list[str]) -> None:
    token = invite(gateway.store)
    before = activations("signup")
    page = await open_form(gateway, token)

    status, body = await submit(gateway, token, csrf_field(page))

    assert status == 200
    assert "is ready" in body
    row = upn_row(gateway.store)
    assert row["state"] == "active"
    assert row["method"] == "signup"
    assert row["signup_token_hash"] is None
    assert row["signup_expires"] is None
    assert check_password(PASSWORD, row["password_hash"])
    assert activations("signup") == before + 1
    assert any("event=activated" in line and "method=signup" in line for line in web_log)
    assert not any(token in line or PASSWORD in line for line in web_log)
    assert any("/signup/[token]" in line for line in web_log)


async def test_used_token_is_refused(gateway: WebGateway) -> None:
    token = invite(gateway.store)
    page = await open_form(gateway, token)
    assert (await submit(gateway, token, csrf_field(page)))[0] == 200

    async with gateway.session.get(f"{gateway.base_url}/signup/{token}") as response:
        assert response.status == 404
        assert "already been used" in await response.text()
    status, _ = await submit(gateway, token, csrf_field(page), password="another password 42")
    assert status == 404
    assert check_password(PASSWORD, upn_row(gateway.store)["password_hash"])


async def test_expired_token_gets_410(gateway: WebGateway) -> None:
    token = invite(gateway.store, expires_in=-1)
    async with gateway.session.get(f"{gateway.base_url}/signup/{token}") as response:
        assert response.status == 410
        assert "expired" in await response.text()
        assert response.content_type == "text/html"


async def test_expiry_between_get_and_post(gateway: WebGateway) -> None:
    token = invite(gateway.store)
    page = await open_form(gateway, token)
    gateway.store.update_upn(ADDRESS, signup_expires=time.time() - 1)
    status, _ = await submit(gateway, token, csrf_field(page))
    assert status == 410
    assert upn_row(gateway.store)["state"] == "invited"


@pytest.mark.parametrize("token", ["A" * 43, "short", "not-a-token!" * 4])
async def test_unknown_token_gets_404(gateway: WebGateway, token: str) -> None:
    async with gateway.session.get(f"{gateway.base_url}/signup/{token}") as response:
        assert response.status == 404
        text = await response.text()
    assert "not valid" in text
    assert "Traceback" not in text


async def test_held_upn_token_refused(gateway: WebGateway) -> None:
    token = invite(gateway.store, state="held")
    async with gateway.session.get(f"{gateway.base_url}/signup/{token}") as response:
        assert response.status == 404


async def test_post_without_csrf_cookie_refused(gateway: WebGateway) -> None:
    token = invite(gateway.store)
    page = await open_form(gateway, token)
    gateway.session.cookie_jar.clear()
    status, body = await submit(gateway, token, csrf_field(page))
    assert status == 403
    assert "Enter your password again" in body
    assert upn_row(gateway.store)["state"] == "invited"


async def test_post_with_forged_csrf_refused(gateway: WebGateway) -> None:
    token = invite(gateway.store)
    await open_form(gateway, token)
    status, _ = await submit(gateway, token, "A" * 43)
    assert status == 403
    assert upn_row(gateway.store)["state"] == "invited"


async def test_cross_site_post_refused(gateway: WebGateway) -> None:
    token = invite(gateway.store)
    csrf = csrf_field(await open_form(gateway, token))
    form = {"csrf": csrf, "password": PASSWORD, "confirm": PASSWORD}
    headers = {"Sec-Fetch-Site": "cross-site"}
    async with gateway.session.post(f"{gateway.base_url}/signup/{token}", data=form, headers=headers) as response:
        assert response.status == 403
    assert upn_row(gateway.store)["state"] == "invited"


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("short pass", "short pass", "too short"),
        (PASSWORD, PASSWORD + "x", "differ"),
        ("", "", "Enter a password"),
        (ADDRESS, ADDRESS, "must not be your mail address"),
        ("x" * 1025, "x" * 1025, "too long"),
    ],
)
async def test_password_policy(gateway: WebGateway, password: str, confirm: str, message: str) -> None:
    token = invite(gateway.store)
    page = await open_form(gateway, token)
    status, body = await submit(gateway, token, csrf_field(page), password=password, confirm=confirm)
    assert status == 400
    assert message in body
    row = upn_row(gateway.store)
    assert row["state"] == "invited"
    assert row["password_hash"] is None
    # The refused form comes back ready to fill again with the same link.
    status, _ = await submit(gateway, token, csrf_field(body))
    assert status == 200


async def test_active_upn_sets_password_once(gateway: WebGateway) -> None:
    token = invite(gateway.store)
    gateway.store.update_upn(ADDRESS, state="active", method="signed-reply", activated=time.time())
    page = await open_form(gateway, token)
    status, _ = await submit(gateway, token, csrf_field(page))
    assert status == 200
    row = upn_row(gateway.store)
    assert row["state"] == "active"
    assert row["method"] == "signed-reply"
    assert check_password(PASSWORD, row["password_hash"])
    assert row["signup_token_hash"] is None


async def test_signup_not_accepted(state_dir: Path) -> None:
    started, runner = await _start(state_dir, activation_accept="signed-reply, otp-reply, auth")
    try:
        token = invite(started.store)
        async with started.session.get(f"{started.base_url}/signup/{token}") as response:
            assert response.status == 200
            page = await response.text()
        assert "does not activate accounts through this page" in page
        assert "<form" not in page
        form = {"csrf": "A" * 43, "password": PASSWORD, "confirm": PASSWORD}
        async with started.session.post(f"{started.base_url}/signup/{token}", data=form) as response:
            assert response.status == 403
        row = upn_row(started.store)
        assert row["state"] == "invited"
        assert row["password_hash"] is None
    finally:
        await started.session.close()
        await runner.cleanup()
        started.store.close()


async def test_security_headers(gateway: WebGateway) -> None:
    token = invite(gateway.store)
    async with gateway.session.get(f"{gateway.base_url}/signup/{token}") as response:
        headers = response.headers
        cookie = response.cookies["signup_csrf"]
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "form-action 'self'" in policy
    assert "script-src" not in policy
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/signup/"


async def test_page_fits_phone_without_script(gateway: WebGateway) -> None:
    page = await open_form(gateway, invite(gateway.store))
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<script" not in page
    assert 'autocomplete="new-password"' in page
    assert '<label for="password">' in page


async def test_store_failure_gives_plain_500(gateway: WebGateway, web_log: list[str]) -> None:
    token = invite(gateway.store)
    gateway.store.close()
    async with gateway.session.get(f"{gateway.base_url}/signup/{token}") as response:
        assert response.status == 500
        text = await response.text()
    assert "Something went wrong" in text
    assert "Traceback" not in text
    assert any("event=request-failed" in line for line in web_log)
    assert not any(token in line for line in web_log)
