"""IMAP poller: fetch mail from one mailbox, hand it to the gateway, then move it away.

Each message in ``mailbox`` that is not flagged \\Deleted is fetched whole
(``BODY.PEEK[]``, so \\Seen stays as it was) and passed to ``deliver``. Only
after ``deliver`` returns is the message moved to ``processed_mailbox``. A
message whose ``deliver`` raised stays in ``mailbox`` and is tried again on
the next round.

aioimaplib 2.0 neither reconnects nor notices every dead connection, and
its IDLE can wait forever after the server's BYE. So the poller watches the
transport itself and bounds every command with a timeout. It renews IDLE
before the 29 minutes RFC 2177 allows and reconnects with exponential back-off.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aioimaplib

from gateway.logs import event
from gateway.settings import ImapSection

Deliver = Callable[[bytes], Awaitable[None]]

COMMAND_TIMEOUT = 30.0
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 300.0
# RFC 2177 lets a server drop an IDLE client after 29 minutes.
IDLE_RENEW = 25 * 60.0


class ImapError(Exception):
    """The IMAP server replied NO or BAD to a command, or lacks a capability the settings need."""


class ConnectionLost(Exception):
    """The transport to the IMAP server closed."""


class ImapPoller:
    """Feed the messages of one IMAP mailbox to ``deliver`` until ``stop()`` is called."""

    def __init__(self, settings: ImapSection, password: str, deliver: Deliver, logger: logging.Logger, *,
                 ssl_context: ssl.SSLContext | None = None, command_timeout: float = COMMAND_TIMEOUT,
                 backoff_initial: float = BACKOFF_INITIAL, backoff_max: float = BACKOFF_MAX,
                 idle_renew: float = IDLE_RENEW) -> None:
        self.settings = settings
        self._password = password
        self._deliver = deliver
        self._logger = logger
        # None means the system's CAs, with host name checking.
        self._ssl_context = ssl_context
        self._timeout = command_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._idle_renew = idle_renew
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        # (UIDVALIDITY, UID) of messages delivered but not yet moved, so a
        # failed move does not deliver them twice. NOTE: kept in memory only,
        # so a restart between delivery and move still delivers twice.
        self._delivered: set[tuple[str, str]] = set()

    async def run(self) -> None:
        """Connect, process and wait for new mail, reconnecting after errors, until stopped."""
        self._finished.clear()
        delay = self._backoff_initial
        try:
            while not self._stopping.is_set():
                session = _Session(self)
                try:
                    await session.open()
                    if self._stopping.is_set():
                        break
                    delay = self._backoff_initial
                    await session.serve()
                except (OSError, asyncio.TimeoutError, aioimaplib.AioImapException, ImapError,
                        ConnectionLost, ssl.SSLError) as error:
                    self._log(logging.WARNING, "imap-disconnected", error=_describe(error), retry_in=delay)
                finally:
                    await session.close()
                if self._stopping.is_set():
                    break
                await self._sleep(delay)
                delay = min(delay * 2, self._backoff_max)
        finally:
            self._log(logging.INFO, "imap-stopped")
            self._finished.set()

    async def stop(self) -> None:
        """Ask ``run()`` to finish once the message in hand is done, and wait for it."""
        self._stopping.set()
        await self._finished.wait()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    def _log(self, level: int, name: str, **fields: Any) -> None:
        event(self._logger, level, name, host=self.settings.host, mailbox=self.settings.mailbox, **fields)


class _Session:
    """One connection: login, SELECT, then rounds of fetch-deliver-move separated by IDLE or a poll wait."""

    def __init__(self, poller: ImapPoller) -> None:
        self.poller = poller
        self.settings = poller.settings
        self.client: aioimaplib.IMAP4 | None = None
        self.lost = asyncio.Event()
        self.uidvalidity = ""

    # --- connection -----------------------------------------------------------

    async def open(self) -> None:
        settings = self.settings
        self.client = aioimaplib.IMAP4(
            host=settings.host,
            port=settings.port,
            timeout=self.poller._timeout,
            conn_lost_cb=lambda error: self.lost.set(),
            ssl_context=self._tls_context() if settings.tls == "ssl" else None,
        )
        # Unlike later commands, the greeting can wait for a server that is
        # still starting, so stop() must be able to cut it short.
        await self.wait_or_stop_for(self.client.wait_hello_from_server())
        if self.poller._stopping.is_set():
            return
        if settings.tls == "starttls":
            await self._starttls()
        await self._login()
        await self._ensure_mailbox(settings.processed_mailbox)
        await self._select()
        self.poller._log(logging.INFO, "imap-connected", port=settings.port, tls=settings.tls,
                         idle=self._use_idle())

    def _tls_context(self) -> ssl.SSLContext:
        return self.poller._ssl_context or ssl.create_default_context()

    async def _starttls(self) -> None:
        client = self._client()
        if not client.has_capability("STARTTLS"):
            raise ImapError("server does not offer STARTTLS, which [imap] tls = starttls requires")
        protocol = client.protocol
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop, timeout=self.poller._timeout)
        _check(await self.call(protocol.execute(command)), "STARTTLS")
        loop = asyncio.get_running_loop()
        transport = await self.call(
            loop.start_tls(protocol.transport, protocol, self._tls_context(), server_hostname=self.settings.host)
        )
        protocol.transport = transport
        # RFC 3501 6.2.1: capabilities learned before TLS must be discarded.
        await self.call(protocol.capability())

    async def _login(self) -> None:
        response = await self.call(self._client().login(self.settings.username, self.poller._password))
        if response.result != "OK":
            raise ImapError(f"login as {self.settings.username} failed: {_text(response)}")

    async def _ensure_mailbox(self, mailbox: str) -> None:
        client = self._client()
        status = await self.call(client.status(aioimaplib.quoted(mailbox), "(MESSAGES)"))
        if status.result == "OK":
            return
        _check(await self.call(client.create(aioimaplib.quoted(mailbox))), f"CREATE {mailbox}")
        self.poller._log(logging.INFO, "imap-mailbox-created", created=mailbox)

    async def _select(self) -> None:
        response = await self.call(self._client().select(aioimaplib.quoted(self.settings.mailbox)))
        _check(response, f"SELECT {self.settings.mailbox}")
        for line in response.lines:
            text = bytes(line).decode("ascii", "replace")
            if "[UIDVALIDITY " in text:
                self.uidvalidity = text.split("[UIDVALIDITY ", 1)[1].split("]", 1)[0]

    async def close(self) -> None:
        if self.client is None:
            return
        protocol = self.client.protocol
        if not self.lost.is_set() and protocol.transport is not None:
            try:
                await asyncio.wait_for(self.client.logout(), self.poller._timeout)
            except (OSError, asyncio.TimeoutError, aioimaplib.AioImapException):
                pass
        if protocol.transport is not None:
            protocol.transport.close()

    # --- rounds ---------------------------------------------------------------

    async def serve(self) -> None:
        while not self.poller._stopping.is_set():
            # Mail that arrives during a round is announced only in replies to
            # that round's commands, so search again until a round moves nothing.
            while await self.process_new():
                pass
            if self.poller._stopping.is_set():
                return
            if self._use_idle():
                await self.idle()
            else:
                await self.wait_or_stop(self.settings.poll_interval)
                await self.call(self._client().noop())

    def _use_idle(self) -> bool:
        return self.settings.idle and self._client().has_capability("IDLE")

    async def process_new(self) -> int:
        """Deliver and move every message in the mailbox; return how many were moved."""
        response = await self.call(self._client().uid_search("UNDELETED", charset=None))
        _check(response, "UID SEARCH")
        moved = 0
        for uid in _search_uids(response):
            if self.poller._stopping.is_set():
                break
            moved += await self.process_one(uid)
        return moved

    async def process_one(self, uid: str) -> bool:
        """Deliver one message unless already delivered, then move it; return whether it was moved."""
        key = (self.uidvalidity, uid)
        if key not in self.poller._delivered:
            raw = await self.fetch(uid)
            if raw is None:
                return False
            try:
                await self.poller._deliver(raw)
            except Exception as error:  # the callback is the gateway's; any failure keeps the mail
                self.poller._log(logging.WARNING, "imap-deliver-failed", uid=uid, error=_describe(error))
                return False
            self.poller._delivered.add(key)
            self.poller._log(logging.INFO, "imap-message-delivered", uid=uid, size=len(raw))
        await self.move(uid)
        self.poller._delivered.discard(key)
        return True

    async def fetch(self, uid: str) -> bytes | None:
        response = await self.call(self._client().uid("fetch", uid, "(BODY.PEEK[])"))
        _check(response, f"UID FETCH {uid}")
        for line in response.lines:
            if isinstance(line, bytearray):
                return bytes(line)
        # Another client expunged the message between SEARCH and FETCH.
        return None

    async def move(self, uid: str) -> None:
        client = self._client()
        target = aioimaplib.quoted(self.settings.processed_mailbox)
        if client.has_capability("MOVE"):
            _check(await self.call(client.uid("move", uid, target)), f"UID MOVE {uid}")
        else:
            _check(await self.call(client.uid("copy", uid, target)), f"UID COPY {uid}")
            _check(await self.call(client.uid("store", uid, "+FLAGS.SILENT", r"(\Deleted)")), f"UID STORE {uid}")
            await self._expunge(uid)
        self.poller._log(logging.INFO, "imap-message-moved", uid=uid, to=self.settings.processed_mailbox)

    async def _expunge(self, uid: str) -> None:
        client = self._client()
        if client.has_capability("UIDPLUS"):
            _check(await self.call(client.uid("expunge", uid)), f"UID EXPUNGE {uid}")
        else:
            # NOTE: without UIDPLUS this also expunges messages that other
            # clients flagged \Deleted in the same mailbox.
            _check(await self.call(client.expunge()), "EXPUNGE")

    # --- waiting ----------------------------------------------------------------

    async def idle(self) -> None:
        """Wait in IDLE until new mail, the renewal time, a stop or a dead connection."""
        client = self._client()
        idle_task = await self.call(asyncio.wait_for(client.idle_start(self.poller._idle_renew), self.poller._timeout))
        try:
            await self._wait_for_push()
        finally:
            if not self.lost.is_set():
                client.idle_done()
        # The tagged response to DONE proves the connection alive, and its absence means it is dead.
        response = await self.call(asyncio.wait_for(idle_task, self.poller._timeout))
        _check(response, "IDLE")

    async def _wait_for_push(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.poller._idle_renew + self.poller._timeout
        while True:
            remaining = deadline - loop.time()
            push = await self.wait_or_stop_for(self._client().wait_server_push(remaining))
            if push is None or push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                return
            lines = [bytes(line) for line in push]
            if any(b"BYE" in line for line in lines):
                raise ConnectionLost("server sent BYE during IDLE")
            if any(b"EXISTS" in line for line in lines):
                return

    async def wait_or_stop(self, seconds: float) -> None:
        await self.wait_or_stop_for(asyncio.sleep(seconds))

    async def wait_or_stop_for(self, awaitable: Awaitable[Any]) -> Any:
        """Await ``awaitable`` unless a stop comes first (then return None) or the connection drops."""
        stop = asyncio.ensure_future(self.poller._stopping.wait())
        try:
            return await self.call(_first_of(awaitable, stop))
        finally:
            stop.cancel()

    async def call(self, awaitable: Awaitable[Any]) -> Any:
        """Await one step of the protocol, raising ConnectionLost as soon as the transport closes."""
        if self.lost.is_set():
            _close_awaitable(awaitable)
            raise ConnectionLost("connection to the IMAP server closed")
        step = asyncio.ensure_future(awaitable)
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            await asyncio.wait({step, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not step.done():
            step.cancel()
            raise ConnectionLost("connection to the IMAP server closed")
        return step.result()

    def _client(self) -> aioimaplib.IMAP4:
        assert self.client is not None, "the session is not open"
        return self.client


async def _first_of(awaitable: Awaitable[Any], stop: asyncio.Future[Any]) -> Any:
    """Return ``awaitable``'s result, or None if ``stop`` completes first (``awaitable`` is then cancelled)."""
    step = asyncio.ensure_future(awaitable)
    await asyncio.wait({step, stop}, return_when=asyncio.FIRST_COMPLETED)
    if step.done():
        return step.result()
    step.cancel()
    return None


def _close_awaitable(awaitable: Awaitable[Any]) -> None:
    if asyncio.iscoroutine(awaitable):
        awaitable.close()
    elif isinstance(awaitable, asyncio.Future):
        awaitable.cancel()


def _search_uids(response: Any) -> list[str]:
    # aioimaplib strips "* SEARCH " from the untagged line, leaving the UIDs;
    # the last line is the tagged completion text.
    uids: list[str] = []
    for line in response.lines[:-1]:
        words = bytes(line).split()
        if words and all(word.isdigit() for word in words):
            uids.extend(word.decode("ascii") for word in words)
    return uids


def _check(response: Any, command: str) -> None:
    if response.result != "OK":
        raise ImapError(f"{command} failed: {response.result} {_text(response)}")


def _text(response: Any) -> str:
    if not response.lines:
        return ""
    return bytes(response.lines[-1]).decode("utf-8", "replace")


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
