"""The nginx ``auth_request`` example from docs/ run for real, in front of Radicale.

nginx and Radicale run on loopback as children of the test. The example
file is used as shipped, except for the values its comments name as the
ones to change: ports, listen address and certificate paths. Each must
match exactly once, so the example cannot drift from what is tested.
"""

from __future__ import annotations

import base64
import re
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest
from aiohttp import web

from gateway.web.app import start_web
from gateway.web.tokens import new_signup_token
from store.db import Store, open_store
from tests.conftest import ROOT, require_tool
from tests.harness import make_settings
from tests.servers import free_port, make_certificate
from tests.servers.nginx import Nginx
from tests.servers.radicale import Radicale

EXAMPLE = ROOT / "docs" / "examples" / "nginx-caldav.conf"
ADDRESS = "guest@remote.example"
PASSWORD = "correct horse battery"
PROPFIND_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>'
)


def upn_row(store: Store, address: str = ADDRESS) -> dict[str, Any]:
    row = store.get_upn(address)
    assert row is not None, f"no UPN row for {address}"
    return row


@dataclass
class Stack:
    store: Store
    base_url: str
    session: aiohttp.ClientSession


def site_config(gateway_port: int, radicale_port: int, nginx_port: int, certificate: Path, key: Path) -> str:
    """Return the example with the deployment-specific values replaced by the test's."""
    text = EXAMPLE.read_text()
    replacements = {
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{gateway_port};",
        "server 127.0.0.1:5232;": f"server 127.0.0.1:{radicale_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{nginx_port} ssl;",
        "/etc/ssl/certs/cal.example.com.pem": str(certificate),
        "/etc/ssl/private/cal.example.com.key": str(key),
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"the example no longer contains {old!r} exactly once"
        text = text.replace(old, new)
    return text


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[Radicale]:
    server = Radicale(tmp_path / "radicale")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def stack(tmp_path: Path, state_dir: Path, radicale: Radicale) -> AsyncIterator[Stack]:
    binary = require_tool("nginx")
    nginx = Nginx(tmp_path / "nginx", binary)
    settings = make_settings(
        state_dir,
        web_trusted_proxies="127.0.0.1/32",
        web_public_url=f"https://127.0.0.1:{nginx.port}",
    )
    store = open_store(settings.database_path)
    runner: web.AppRunner = await start_web(settings, store, workers_alive=lambda: {"pipeline": True})
    certificate, key = make_certificate(tmp_path)
    site = tmp_path / "caldav-site.conf"
    site.write_text(site_config(settings.web.listen.port, radicale.port, nginx.port, certificate, key))
    nginx.start(site)
    trust = ssl.create_default_context(cafile=str(certificate))
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust), cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        yield Stack(store, f"https://127.0.0.1:{nginx.port}", session)
    finally:
        await session.close()
        nginx.stop()
        await runner.cleanup()
        store.close()


def basic_header(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


def principal(body: str) -> str:
    """Return the current-user-principal href of a PROPFIND response, percent-decoded."""
    match = re.search(r"<current-user-principal><href>([^<]*)</href>", body)
    assert match is not None, f"no current-user-principal in {body[:300]!r}"
    return unquote(match.group(1))


async def propfind(stack: Stack, headers: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    all_headers = {"Depth": "0", "Content-Type": "application/xml; charset=utf-8", **headers}
    async with stack.session.request("PROPFIND", f"{stack.base_url}/", data=PROPFIND_BODY,
                                     headers=all_headers) as response:
        return response.status, await response.text(), dict(response.headers)


async def sign_up(stack: Stack) -> None:
    """Invite ADDRESS and complete its signup page through nginx, as the attendee's browser would."""
    token, token_hash = new_signup_token()
    stack.store.create_upn(ADDRESS, ADDRESS, "invited", signup_token_hash=token_hash,
                           signup_expires=time.time() + 3600, organizer="doug@example.com")
    url = f"{stack.base_url}/signup/{token}"
    async with stack.session.get(url) as response:
        assert response.status == 200
        page = await response.text()
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None
    form = {"csrf": match.group(1), "password": PASSWORD, "confirm": PASSWORD}
    async with stack.session.post(url, data=form) as response:
        assert response.status == 200
    assert upn_row(stack.store)["state"] == "active"


async def test_propfind_with_signup_password(stack: Stack) -> None:
    await sign_up(stack)
    status, body, _ = await propfind(stack, basic_header(ADDRESS, PASSWORD))
    assert status == 207
    # Radicale names the user nginx passed on, so the address reached it.
    assert principal(body) == f"/{ADDRESS}/"


async def test_propfind_with_wrong_password(stack: Stack) -> None:
    await sign_up(stack)
    status, _, headers = await propfind(stack, basic_header(ADDRESS, "not the password"))
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic realm=")


async def test_propfind_without_credentials(stack: Stack) -> None:
    status, _, _ = await propfind(stack, {"X-Remote-User": ADDRESS})
    assert status == 401


async def test_client_cannot_choose_remote_user(stack: Stack) -> None:
    await sign_up(stack)
    headers = {**basic_header(ADDRESS, PASSWORD), "X-Remote-User": "organizer@example.com"}
    status, body, _ = await propfind(stack, headers)
    assert status == 207
    assert principal(body) == f"/{ADDRESS}/"


async def test_lockout_through_nginx(stack: Stack) -> None:
    await sign_up(stack)
    for _ in range(5):
        status, _, _ = await propfind(stack, basic_header(ADDRESS, "not the password"))
        assert status == 401
    status, _, headers = await propfind(stack, basic_header(ADDRESS, PASSWORD))
    assert status == 429
    assert int(headers["Retry-After"]) > 0


async def test_public_and_internal_paths(stack: Stack) -> None:
    async with stack.session.get(f"{stack.base_url}/auth/challenge", params={"upn": ADDRESS}) as response:
        assert response.status == 200
        assert (await response.text()).startswith("otp-md5 ")
    async with stack.session.get(f"{stack.base_url}/capability") as response:
        assert response.status == 200
    # Only the CalDAV server lies behind "/", so the gateway's metrics stay internal.
    async with stack.session.get(f"{stack.base_url}/metrics") as response:
        assert response.status == 401
