"""``/auth``, ``/auth/challenge`` and ``/auth/otp`` over real HTTP, with rate limits and lock-outs."""

from __future__ import annotations

import base64
import logging
import os
import re
import stat
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from crypto.otp import VerifierState, answer_challenge, format_hex, format_words, initial_state, parse_challenge
from gateway.logs import LogfmtFormatter
from gateway.metrics import REGISTRY
from gateway.settings import Settings
from gateway.smtp_auth import hash_password
from gateway.upn_state import state_columns
from gateway.web.app import start_web
from gateway.web.secret import SECRET_FILE_NAME
from store.db import Store, open_store
from tests.harness import make_settings

ADDRESS = "guest@remote.example"
PASSWORD = "correct horse battery"
OTPKEY = "md5-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
SEED = "gwk3x9"


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
    spent: list[tuple[str, VerifierState]] = field(default_factory=list)


@pytest.fixture
def web_log() -> Iterator[list[str]]:
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


async def _start(state_dir: Path, **overrides: str) -> tuple[WebGateway, web.AppRunner]:
    settings = make_settings(state_dir, **overrides)
    store = open_store(settings.database_path)
    spent: list[tuple[str, VerifierState]] = []

    async def on_otp_spent(address: str, state: VerifierState) -> None:
        spent.append((address, state))

    runner = await start_web(settings, store, workers_alive=lambda: {"pipeline": True}, on_otp_spent=on_otp_spent)
    listen = settings.web.listen
    session = aiohttp.ClientSession()
    return WebGateway(settings, store, f"http://{listen.host}:{listen.port}", session, spent), runner


async def _stop(started: WebGateway, runner: web.AppRunner) -> None:
    await started.session.close()
    await runner.cleanup()
    started.store.close()


@pytest.fixture
async def gateway(state_dir: Path) -> AsyncIterator[WebGateway]:
    started, runner = await _start(state_dir)
    yield started
    await _stop(started, runner)


def add_upn(store: Store, address: str = ADDRESS, state: str = "active", password: str | None = PASSWORD,
            otp: bool = False) -> None:
    columns: dict[str, object] = {}
    if password is not None:
        columns["password_hash"] = hash_password(password)
    if otp:
        columns.update(state_columns(initial_state(OTPKEY, SEED, 499)))
    store.create_upn(address, address, state, **columns)


async def basic(gateway: WebGateway, login: str, password: str, method: str = "GET",
                headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
    credentials = base64.b64encode(f"{login}:{password}".encode()).decode()
    all_headers = {"Authorization": f"Basic {credentials}", **(headers or {})}
    async with gateway.session.request(method, f"{gateway.base_url}/auth", headers=all_headers) as response:
        await response.read()
        return response


async def challenge_of(gateway: WebGateway, address: str) -> str:
    async with gateway.session.get(f"{gateway.base_url}/auth/challenge", params={"upn": address}) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        return (await response.text()).strip()


async def send_otp(gateway: WebGateway, address: str, answer: str,
                   headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
    form = {"upn": address, "response": answer}
    async with gateway.session.post(f"{gateway.base_url}/auth/otp", data=form, headers=headers) as response:
        await response.read()
        return response


async def next_answer(gateway: WebGateway, address: str = ADDRESS) -> str:
    return format_hex(answer_challenge(parse_challenge(await challenge_of(gateway, address)), OTPKEY))


# --- /auth ---------------------------------------------------------------------


async def test_auth_accepts_signup_password(gateway: WebGateway) -> None:
    add_upn(gateway.store)
    response = await basic(gateway, ADDRESS, PASSWORD)
    assert response.status == 204
    assert response.headers["X-Remote-User"] == ADDRESS


async def test_auth_accepts_any_method_and_case(gateway: WebGateway) -> None:
    add_upn(gateway.store)
    for method in ("PROPFIND", "REPORT", "PUT", "HEAD"):
        response = await basic(gateway, "guest@REMOTE.example", PASSWORD, method=method)
        assert response.status == 204, method
        assert response.headers["X-Remote-User"] == ADDRESS


async def test_auth_wrong_password(gateway: WebGateway, web_log: list[str]) -> None:
    add_upn(gateway.store)
    response = await basic(gateway, ADDRESS, "wrong password here")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert "X-Remote-User" not in response.headers
    assert any("event=auth-failed" in line and "wrong password" in line for line in web_log)
    assert not any("wrong password here" in line for line in web_log)


async def test_auth_without_credentials(gateway: WebGateway) -> None:
    async with gateway.session.get(f"{gateway.base_url}/auth") as response:
        assert response.status == 401
        assert "Basic" in response.headers["WWW-Authenticate"]
    headers = {"Authorization": "Basic not-base64!"}
    async with gateway.session.get(f"{gateway.base_url}/auth", headers=headers) as response:
        assert response.status == 401


@pytest.mark.parametrize(
    ("state", "password"),
    [("held", PASSWORD), ("revoked", PASSWORD), ("invited", None), ("invited", PASSWORD), ("active", None)],
)
async def test_auth_refuses_unusable_upn(gateway: WebGateway, state: str, password: str | None) -> None:
    add_upn(gateway.store, state=state, password=password)
    response = await basic(gateway, ADDRESS, PASSWORD)
    assert response.status == 401


async def test_auth_unknown_upn(gateway: WebGateway) -> None:
    response = await basic(gateway, "nobody@remote.example", PASSWORD)
    assert response.status == 401
    assert "Basic" in response.headers["WWW-Authenticate"]


async def test_auth_sees_password_change_at_once(gateway: WebGateway) -> None:
    add_upn(gateway.store)
    assert (await basic(gateway, ADDRESS, PASSWORD)).status == 204
    gateway.store.update_upn(ADDRESS, password_hash=hash_password("a different password"))
    assert (await basic(gateway, ADDRESS, PASSWORD)).status == 401
    gateway.store.update_upn(ADDRESS, password_hash=hash_password(PASSWORD), state="revoked")
    assert (await basic(gateway, ADDRESS, PASSWORD)).status == 401


async def test_auth_lockout_per_upn(gateway: WebGateway, web_log: list[str]) -> None:
    add_upn(gateway.store)
    for _ in range(5):
        assert (await basic(gateway, ADDRESS, "wrong password here")).status == 401

    locked = await basic(gateway, ADDRESS, PASSWORD)
    assert locked.status == 429
    retry_after = int(locked.headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60
    assert (await basic(gateway, ADDRESS, "wrong password here")).status == 429
    lockouts = [line for line in web_log if "event=lockout" in line]
    assert len(lockouts) == 1
    assert "scope=upn" in lockouts[0]
    assert f"upn={ADDRESS}" in lockouts[0]

    add_upn(gateway.store, address="other@remote.example")
    assert (await basic(gateway, "other@remote.example", PASSWORD)).status == 204


async def test_auth_success_resets_upn_failures(gateway: WebGateway) -> None:
    add_upn(gateway.store)
    for _ in range(4):
        assert (await basic(gateway, ADDRESS, "wrong password here")).status == 401
    assert (await basic(gateway, ADDRESS, PASSWORD)).status == 204
    for _ in range(4):
        assert (await basic(gateway, ADDRESS, "wrong password here")).status == 401
    assert (await basic(gateway, ADDRESS, PASSWORD)).status == 204


async def test_auth_lockout_per_client(gateway: WebGateway, web_log: list[str]) -> None:
    add_upn(gateway.store)
    for number in range(20):
        assert (await basic(gateway, f"guess{number}@remote.example", "wrong password here")).status == 401
    locked = await basic(gateway, ADDRESS, PASSWORD)
    assert locked.status == 429
    assert "Retry-After" in locked.headers
    assert sum("event=lockout" in line and "scope=client" in line for line in web_log) == 1


async def test_forwarded_for_ignored_from_untrusted_peer(gateway: WebGateway) -> None:
    add_upn(gateway.store)
    for number in range(20):
        headers = {"X-Forwarded-For": f"192.0.2.{number}"}
        assert (await basic(gateway, f"guess{number}@remote.example", "wrong", headers=headers)).status == 401
    # Every attempt counted against 127.0.0.1, whatever the header claimed.
    headers = {"X-Forwarded-For": "192.0.2.200"}
    assert (await basic(gateway, ADDRESS, PASSWORD, headers=headers)).status == 429


async def test_forwarded_for_believed_from_trusted_proxy(state_dir: Path) -> None:
    started, runner = await _start(state_dir, web_trusted_proxies="127.0.0.1/32")
    try:
        add_upn(started.store)
        attacker = {"X-Forwarded-For": "192.0.2.66"}
        for number in range(20):
            response = await basic(started, f"guess{number}@remote.example", "wrong", headers=attacker)
            assert response.status == 401
        assert (await basic(started, ADDRESS, PASSWORD, headers=attacker)).status == 429
        # A different client behind the same proxy is not locked out; a spoofed left entry changes nothing.
        honest = {"X-Forwarded-For": "192.0.2.66, 198.51.100.7"}
        assert (await basic(started, ADDRESS, PASSWORD, headers=honest)).status == 204
    finally:
        await _stop(started, runner)


# --- /auth/challenge -----------------------------------------------------------------


async def test_challenge_of_keyed_upn(gateway: WebGateway) -> None:
    add_upn(gateway.store, state="invited", password=None, otp=True)
    assert await challenge_of(gateway, ADDRESS) == f"otp-md5 498 {SEED}"


async def test_fake_challenge_for_unknown_address(gateway: WebGateway) -> None:
    first = await challenge_of(gateway, "nobody@remote.example")
    assert re.fullmatch(r"otp-md5 49[1-8] [a-z0-9]{10}", first)
    assert await challenge_of(gateway, "nobody@remote.example") == first
    assert await challenge_of(gateway, "nobody@REMOTE.example") == first
    assert await challenge_of(gateway, "someone.else@remote.example") != first
    secret = gateway.settings.state_dir / SECRET_FILE_NAME
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600


async def test_fake_challenge_survives_restart(state_dir: Path) -> None:
    started, runner = await _start(state_dir)
    first = await challenge_of(started, "nobody@remote.example")
    await _stop(started, runner)
    started, runner = await _start(state_dir)
    try:
        assert await challenge_of(started, "nobody@remote.example") == first
    finally:
        await _stop(started, runner)


@pytest.mark.parametrize("state", ["held", "revoked"])
async def test_challenge_hidden_for_held_and_revoked(gateway: WebGateway, state: str) -> None:
    add_upn(gateway.store, state=state, password=None, otp=True)
    text = await challenge_of(gateway, ADDRESS)
    assert text != f"otp-md5 498 {SEED}"
    assert re.fullmatch(r"otp-md5 \d+ [a-z0-9]{10}", text)


async def test_challenge_needs_upn(gateway: WebGateway) -> None:
    async with gateway.session.get(f"{gateway.base_url}/auth/challenge") as response:
        assert response.status == 400
        assert "upn" in await response.text()


async def test_challenge_uses_configured_algorithm(state_dir: Path) -> None:
    started, runner = await _start(state_dir, invitation_otp_algorithm="sha1")
    try:
        assert (await challenge_of(started, "nobody@remote.example")).startswith("otp-sha1 ")
    finally:
        await _stop(started, runner)


# --- /auth/otp -------------------------------------------------------------------------


async def test_otp_activates_invited_upn(gateway: WebGateway, web_log: list[str]) -> None:
    add_upn(gateway.store, state="invited", password=None, otp=True)
    before = activations("auth")
    answer = await next_answer(gateway)

    response = await send_otp(gateway, ADDRESS, answer)

    assert response.status == 204
    row = upn_row(gateway.store)
    assert row["state"] == "active"
    assert row["method"] == "auth"
    assert row["otp_sequence"] == 498
    assert activations("auth") == before + 1
    assert [(address, state.sequence) for address, state in gateway.spent] == [(ADDRESS, 498)]
    assert await challenge_of(gateway, ADDRESS) == f"otp-md5 497 {SEED}"
    assert not any(answer in line for line in web_log)


async def test_otp_accepts_six_words(gateway: WebGateway) -> None:
    add_upn(gateway.store, state="active", password=None, otp=True)
    words = format_words(answer_challenge(parse_challenge(await challenge_of(gateway, ADDRESS)), OTPKEY))
    assert (await send_otp(gateway, ADDRESS, words.lower())).status == 204
    assert upn_row(gateway.store)["method"] is None


async def test_otp_replay_refused(gateway: WebGateway) -> None:
    add_upn(gateway.store, state="invited", password=None, otp=True)
    answer = await next_answer(gateway)
    assert (await send_otp(gateway, ADDRESS, answer)).status == 204
    replay = await send_otp(gateway, ADDRESS, answer)
    assert replay.status == 401
    assert "WWW-Authenticate" in replay.headers
    assert upn_row(gateway.store)["otp_sequence"] == 498
    assert len(gateway.spent) == 1


async def test_otp_wrong_answer(gateway: WebGateway) -> None:
    add_upn(gateway.store, state="invited", password=None, otp=True)
    assert (await send_otp(gateway, ADDRESS, "0x0123456789abcdef")).status == 401
    assert (await send_otp(gateway, ADDRESS, "not an answer at all")).status == 401
    row = upn_row(gateway.store)
    assert row["state"] == "invited"
    assert row["otp_sequence"] == 499
    assert gateway.spent == []


async def test_otp_unknown_upn(gateway: WebGateway) -> None:
    assert (await send_otp(gateway, "nobody@remote.example", "0x0123456789abcdef")).status == 401


@pytest.mark.parametrize("state", ["held", "revoked"])
async def test_otp_refused_for_held_and_revoked(gateway: WebGateway, state: str) -> None:
    add_upn(gateway.store, state="invited", password=None, otp=True)
    answer = await next_answer(gateway)
    gateway.store.update_upn(ADDRESS, state=state)
    assert (await send_otp(gateway, ADDRESS, answer)).status == 401
    assert upn_row(gateway.store)["state"] == state


async def test_otp_missing_fields(gateway: WebGateway) -> None:
    async with gateway.session.post(f"{gateway.base_url}/auth/otp", data={"upn": ADDRESS}) as response:
        assert response.status == 400


async def test_otp_lockout(gateway: WebGateway, web_log: list[str]) -> None:
    add_upn(gateway.store, state="invited", password=None, otp=True)
    answer = await next_answer(gateway)
    for _ in range(5):
        assert (await send_otp(gateway, ADDRESS, "0x0123456789abcdef")).status == 401
    locked = await send_otp(gateway, ADDRESS, answer)
    assert locked.status == 429
    assert int(locked.headers["Retry-After"]) > 0
    # The rejected attempt was not checked, so the correct password is still unspent.
    assert upn_row(gateway.store)["otp_sequence"] == 499
    assert sum("event=lockout" in line for line in web_log) == 1


async def test_otp_without_auth_activation(state_dir: Path) -> None:
    started, runner = await _start(state_dir, activation_accept="signed-reply, otp-reply, signup")
    try:
        add_upn(started.store, state="invited", password=None, otp=True)
        assert (await send_otp(started, ADDRESS, await next_answer(started))).status == 204
        row = upn_row(started.store)
        assert row["state"] == "invited"
        assert row["otp_sequence"] == 498
    finally:
        await _stop(started, runner)
