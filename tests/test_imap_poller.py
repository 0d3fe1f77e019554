"""ImapPoller against a real Dovecot: delivery, the move to processed_mailbox, retries and reconnects."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from gateway.imap_poller import ImapPoller
from gateway.settings import ImapSection
from tests.servers.fixtures import MailServers

pytestmark = pytest.mark.postfix

WAIT_SECONDS = 20.0


def _message(subject: str) -> bytes:
    return (
        f"From: attendee@remote.example\r\nTo: gateway@gateway.example\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{uuid.uuid4()}@remote.example>\r\n\r\n"
        f"Reply body for {subject}.\r\n"
    ).encode()


class Collector:
    """A deliver callback that records each message and fails ``failures_left`` times first."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.failures_left = 0
        self.calls = 0
        self._changed = asyncio.Event()

    async def __call__(self, raw: bytes) -> None:
        self.calls += 1
        self._changed.set()
        if self.failures_left > 0:
            self.failures_left -= 1
            raise RuntimeError("spool unavailable")
        self.received.append(raw)

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT_SECONDS):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
def mailbox_user(postfix_dovecot: MailServers) -> str:
    """A fresh Dovecot user per test, so tests sharing the session's Dovecot see only their own mail."""
    address = f"poller-{uuid.uuid4().hex[:10]}@gateway.example"
    postfix_dovecot.add_user(address, "poller-password")
    return address


def _settings(servers: MailServers, address: str, **changes: object) -> ImapSection:
    values: dict[str, object] = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": servers.imap_port,
        "tls": "none",
        "username": address,
        "processed_mailbox": "Processed",
        "poll_interval": 1,
    }
    values.update(changes)
    return dataclasses.replace(ImapSection(), **values)


PollerFactory = Callable[..., Awaitable[ImapPoller]]


@pytest.fixture
async def start_poller(postfix_dovecot: MailServers) -> AsyncIterator[PollerFactory]:
    """Start pollers as tasks; every one is stopped, and its task awaited, at teardown."""
    running: list[tuple[ImapPoller, asyncio.Task[None]]] = []

    async def start(settings: ImapSection, deliver: Callable[[bytes], Awaitable[None]], **options: object) -> ImapPoller:
        poller = ImapPoller(settings, postfix_dovecot.users[settings.username], deliver,
                            logging.getLogger("imip_gateway.imap"), backoff_initial=0.2,
                            backoff_max=1.0, command_timeout=5.0, **options)
        running.append((poller, asyncio.create_task(poller.run())))
        return poller

    yield start
    for poller, task in running:
        await asyncio.wait_for(poller.stop(), WAIT_SECONDS)
        await task


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "poll"])
async def test_poller_delivers_and_moves(postfix_dovecot: MailServers, mailbox_user: str,
                                         start_poller: PollerFactory, idle: bool) -> None:
    postfix_dovecot.append(mailbox_user, _message("before start"))
    collector = Collector()
    await start_poller(_settings(postfix_dovecot, mailbox_user, idle=idle), collector)
    await collector.wait_for(lambda: len(collector.received) == 1)

    # A message that arrives while the poller waits (in IDLE or between polls).
    postfix_dovecot.append(mailbox_user, _message("while waiting"))
    await collector.wait_for(lambda: len(collector.received) == 2)
    await _wait_for_mailbox(postfix_dovecot, mailbox_user, "Processed", 2)

    assert b"Subject: before start" in collector.received[0]
    assert b"Subject: while waiting" in collector.received[1]
    assert postfix_dovecot.fetch_all(mailbox_user) == []
    assert collector.calls == 2


async def test_poller_hands_over_exact_bytes(postfix_dovecot: MailServers, mailbox_user: str,
                                             start_poller: PollerFactory) -> None:
    raw = _message("exact bytes") + b"..a line starting with dots\r\n\xe9 8-bit byte\r\n"
    postfix_dovecot.append(mailbox_user, raw)
    collector = Collector()
    await start_poller(_settings(postfix_dovecot, mailbox_user), collector)

    await collector.wait_for(lambda: len(collector.received) == 1)

    assert collector.received[0] == raw


async def test_poller_keeps_mail_when_deliver_fails(postfix_dovecot: MailServers, mailbox_user: str,
                                                    start_poller: PollerFactory) -> None:
    collector = Collector()
    collector.failures_left = 1
    postfix_dovecot.append(mailbox_user, _message("first try fails"))
    await start_poller(_settings(postfix_dovecot, mailbox_user, idle=False), collector)

    await collector.wait_for(lambda: collector.calls >= 1)
    assert len(postfix_dovecot.fetch_all(mailbox_user)) == 1

    await collector.wait_for(lambda: len(collector.received) == 1)
    await _wait_for_mailbox(postfix_dovecot, mailbox_user, "Processed", 1)
    assert postfix_dovecot.fetch_all(mailbox_user) == []
    assert collector.calls == 2


async def test_poller_reconnects_after_kick(postfix_dovecot: MailServers, mailbox_user: str,
                                            start_poller: PollerFactory) -> None:
    collector = Collector()
    await start_poller(_settings(postfix_dovecot, mailbox_user, idle=True), collector)
    postfix_dovecot.append(mailbox_user, _message("before kick"))
    await collector.wait_for(lambda: len(collector.received) == 1)

    await asyncio.to_thread(postfix_dovecot.dovecot.kick, mailbox_user)
    postfix_dovecot.append(mailbox_user, _message("after kick"))

    await collector.wait_for(lambda: len(collector.received) == 2)
    assert b"Subject: after kick" in collector.received[1]


async def test_poller_reconnects_after_restart(postfix_dovecot: MailServers, mailbox_user: str,
                                               start_poller: PollerFactory) -> None:
    collector = Collector()
    await start_poller(_settings(postfix_dovecot, mailbox_user, idle=True), collector)
    postfix_dovecot.append(mailbox_user, _message("before restart"))
    await collector.wait_for(lambda: len(collector.received) == 1)

    await asyncio.to_thread(postfix_dovecot.dovecot.restart)
    postfix_dovecot.append(mailbox_user, _message("after restart"))

    await collector.wait_for(lambda: len(collector.received) == 2)
    assert b"Subject: after restart" in collector.received[1]


@pytest.mark.parametrize("tls", ["starttls", "ssl"])
async def test_poller_over_tls(postfix_dovecot: MailServers, mailbox_user: str,
                               start_poller: PollerFactory, tls: str) -> None:
    port = postfix_dovecot.imaps_port if tls == "ssl" else postfix_dovecot.imap_port
    settings = _settings(postfix_dovecot, mailbox_user, tls=tls, port=port, host="localhost")
    postfix_dovecot.append(mailbox_user, _message(f"over {tls}"))
    collector = Collector()
    await start_poller(settings, collector, ssl_context=postfix_dovecot.dovecot.ssl_context())

    await collector.wait_for(lambda: len(collector.received) == 1)

    assert b"Subject: over " + tls.encode() in collector.received[0]


async def test_poller_retries_wrong_password(postfix_dovecot: MailServers, mailbox_user: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    collector = Collector()
    settings = _settings(postfix_dovecot, mailbox_user)
    poller = ImapPoller(settings, "wrong-password", collector, logging.getLogger("imip_gateway.imap"),
                        backoff_initial=0.1)
    caplog.set_level(logging.INFO, logger="imip_gateway.imap")
    task = asyncio.create_task(poller.run())

    async with asyncio.timeout(WAIT_SECONDS):
        while sum(record.getMessage() == "imap-disconnected" for record in caplog.records) < 2:
            await asyncio.sleep(0.1)
    await poller.stop()
    await task

    assert collector.calls == 0
    assert all("wrong-password" not in record.getMessage() for record in caplog.records)
    assert all("wrong-password" not in str(getattr(record, "fields", "")) for record in caplog.records)


async def _wait_for_mailbox(servers: MailServers, address: str, mailbox: str, count: int) -> None:
    await asyncio.to_thread(servers.wait_for_messages, address, count, mailbox, WAIT_SECONDS)
