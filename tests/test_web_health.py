"""``/healthz``, ``/metrics`` and ``/capability`` over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import icalendar
import pytest
from aiohttp import web

from gateway.metrics import ACTIVATIONS, MESSAGES_RECEIVED
from gateway.web.app import start_web
from gateway.web.capability import PRODID
from store.db import Store, open_store
from tests.harness import make_settings


@dataclass
class WebGateway:
    store: Store
    base_url: str
    session: aiohttp.ClientSession
    workers: dict[str, bool]


@pytest.fixture
async def gateway(state_dir: Path) -> AsyncIterator[WebGateway]:
    settings = make_settings(state_dir)
    store = open_store(settings.database_path)
    workers = {"pipeline": True, "delivery": True}
    runner: web.AppRunner = await start_web(settings, store, workers_alive=lambda: dict(workers))
    session = aiohttp.ClientSession()
    listen = settings.web.listen
    yield WebGateway(store, f"http://{listen.host}:{listen.port}", session, workers)
    await session.close()
    await runner.cleanup()
    store.close()


def queue_mail(store: Store) -> None:
    store.enqueue(mail_from="doug@example.com", rcpt_tos=["guest@remote.example"], raw=b"Subject: x\r\n\r\nx\r\n",
                  lifetime=86400)


async def test_healthz_ok(gateway: WebGateway) -> None:
    async with gateway.session.get(f"{gateway.base_url}/healthz") as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "ok"
    assert body["store"] is True
    assert body["workers"] == {"pipeline": True, "delivery": True}
    assert body["queue"] == {"depth": 0, "oldest_age_seconds": 0.0}


async def test_healthz_reports_queue(gateway: WebGateway) -> None:
    queue_mail(gateway.store)
    await asyncio.sleep(0.05)
    async with gateway.session.get(f"{gateway.base_url}/healthz") as response:
        body = await response.json()
    assert body["queue"]["depth"] == 1
    assert body["queue"]["oldest_age_seconds"] > 0


async def test_healthz_dead_worker(gateway: WebGateway) -> None:
    gateway.workers["delivery"] = False
    async with gateway.session.get(f"{gateway.base_url}/healthz") as response:
        assert response.status == 503
        body = await response.json()
    assert body["status"] == "failing"
    assert body["workers"]["delivery"] is False


async def test_healthz_store_unreachable(gateway: WebGateway) -> None:
    gateway.store.close()
    async with gateway.session.get(f"{gateway.base_url}/healthz") as response:
        assert response.status == 503
        body = await response.json()
    assert body["store"] is False
    assert body["queue"] is None


async def test_metrics_text(gateway: WebGateway) -> None:
    queue_mail(gateway.store)
    queue_mail(gateway.store)
    MESSAGES_RECEIVED.labels(source="smtp").inc()
    ACTIVATIONS.labels(method="signup").inc(0)
    async with gateway.session.get(f"{gateway.base_url}/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    assert "imip_gateway_queue_depth 2.0" in text
    assert "imip_gateway_queue_oldest_age_seconds " in text
    for name in ("messages_received_total", "messages_relayed", "messages_quarantined", "invitations",
                 "activations_total", "delivery_retries", "delivery_failures", "auth_failures", "auth_lockouts"):
        assert f"imip_gateway_{name}" in text, name
    assert 'imip_gateway_messages_received_total{source="smtp"}' in text


async def test_metrics_openmetrics(gateway: WebGateway) -> None:
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
    async with gateway.session.get(f"{gateway.base_url}/metrics", headers=headers) as response:
        assert response.content_type == "application/openmetrics-text"
        assert (await response.text()).rstrip().endswith("# EOF")


async def test_capability_object(gateway: WebGateway) -> None:
    async with gateway.session.get(f"{gateway.base_url}/capability") as response:
        assert response.status == 200
        assert response.content_type == "text/calendar"
        body = await response.read()
    lines = body.decode().split("\r\n")
    assert lines[:4] == ["BEGIN:VCALENDAR", f"PRODID:{PRODID}", "VERSION:2.0", "BEGIN:VREPLY"]
    unfolded = body.decode().replace("\r\n ", "")
    assert "COMPONENTS:VCALENDAR,VEVENT,VTODO,VJOURNAL,VTIMEZONE,STANDARD,DAYLIGHT,VALARM,VREPLY,INVITATION" in unfolded
    assert "CAP-VERSION:1.0\r\n" in unfolded
    assert "ITIP-VERSION:5546\r\n" in unfolded
    assert body.endswith(b"END:VREPLY\r\nEND:VCALENDAR\r\n")
    assert all(len(line.encode()) <= 75 for line in lines)


async def test_capability_parses_with_icalendar(gateway: WebGateway) -> None:
    async with gateway.session.get(f"{gateway.base_url}/capability") as response:
        calendar = icalendar.Calendar.from_ical(await response.read())
    reply = calendar.walk("VREPLY")[0]
    assert "INVITATION" in str(reply["COMPONENTS"])
