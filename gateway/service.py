"""``serve``: the running gateway, assembling listener, workers and HTTP side."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import suppress

from aiohttp import web

from crypto.otp import VerifierState, current_challenge
from gateway.config_warnings import insecure_combinations
from gateway.delivery import Delivery
from gateway.imap_intake import envelope_from_headers
from gateway.imap_poller import ImapPoller
from gateway.lifecycle import run_sweeper
from gateway.logs import event, get_logger
from gateway.metrics import MESSAGES_RECEIVED
from gateway.pipeline import Pipeline
from gateway.settings import Settings
from gateway.smtp_listener import start_listeners
from gateway.web.app import start_web
from gateway.worker import PipelineWorker
from store.db import Store, open_store

log = get_logger("service")

# Seconds between checks for held UPNs whose key has been imported since.
RELEASE_HELD_INTERVAL = 10.0


class Service:
    """Everything ``serve`` runs, started and stopped together."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or open_store(settings.database_path)
        self.pipeline = Pipeline(settings, self.store)
        self.delivery = Delivery(settings, self.store, self.pipeline.build_dsn)
        self.worker = PipelineWorker(self.store, self.pipeline.process)
        self.pipeline.on_outbox = self.delivery.notify
        self.servers: list[asyncio.base_events.Server] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.web: web.AppRunner | None = None
        self.imap: ImapPoller | None = None
        self.stopping = asyncio.Event()
        self.stopped = asyncio.Event()

    async def start(self) -> None:
        for warning in insecure_combinations(self.settings):
            event(log, logging.WARNING, "insecure-setting", detail=warning)
        await asyncio.to_thread(self.pipeline.prepare)
        self.servers = await start_listeners(self.settings, self.store, self.worker.notify)
        self.tasks = [
            asyncio.create_task(self.worker.run(), name="pipeline"),
            asyncio.create_task(self.delivery.run(), name="delivery"),
            asyncio.create_task(self.release_held_periodically(), name="release-held"),
            asyncio.create_task(run_sweeper(self.settings, self.store, self.stopping), name="lifecycle"),
        ]
        if self.settings.imap.enabled:
            self.imap = ImapPoller(self.settings.imap, self.imap_password(), self.spool_polled, get_logger("imap"))
            self.tasks.append(asyncio.create_task(self.imap.run(), name="imap"))
        self.web = await start_web(
            self.settings, self.store, workers_alive=self.workers_alive, on_otp_spent=self.otp_spent,
        )
        event(log, logging.INFO, "started", state_dir=str(self.settings.state_dir))

    async def release_held_periodically(self) -> None:
        """Send held invitations once an operator has imported the attendee's key."""
        while not self.stopping.is_set():
            try:
                await asyncio.to_thread(self.pipeline.release_held)
            except Exception as error:  # noqa: BLE001 - retried at the next round
                log.error("release-held-failed", exc_info=error)
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=RELEASE_HELD_INTERVAL)
            except TimeoutError:
                pass

    def workers_alive(self) -> dict[str, bool]:
        # The lifecycle task ends at once under policy = keep; that is not a failure.
        return {task.get_name(): not task.done() or task.get_name() == "lifecycle" for task in self.tasks}

    def imap_password(self) -> str:
        with open(self.settings.imap.password_file, encoding="utf-8") as handle:
            return handle.readline().rstrip("\r\n")

    async def spool_polled(self, raw: bytes) -> None:
        """Spool one mail fetched over IMAP; raising leaves it in the mailbox for the next round."""
        mail_from, rcpt_tos = envelope_from_headers(raw, self.settings)
        if not rcpt_tos:
            event(log, logging.WARNING, "imap-no-recipient",
                  reason="no To or Cc address in a local domain; the mail is moved without relaying")
            await asyncio.to_thread(self.store.quarantine_message, raw=raw, reason="polled mail has no local recipient",
                                    peer=f"imap:{self.settings.imap.host}", mail_from=mail_from)
            return
        queue_id = await asyncio.to_thread(
            lambda: self.store.spool_message(raw=raw, peer=f"imap:{self.settings.imap.host}", helo=None,
                                             mail_from=mail_from, rcpt_tos=rcpt_tos, trusted=False, source="imap")
        )
        MESSAGES_RECEIVED.labels("imap").inc()
        event(log, logging.INFO, "accepted", queue_id=queue_id, source="imap", mail_from=mail_from,
              rcpt_count=len(rcpt_tos), size=len(raw))
        self.worker.notify(queue_id)

    async def otp_spent(self, address: str, state: VerifierState) -> None:
        """After a one-time password is used at the HTTP side, refresh a key that is nearly used up."""
        if current_challenge(state).sequence >= self.settings.invitation.otp_refresh_below:
            return

        def refresh() -> None:
            with self.pipeline.upn_lock:
                outgoing, actions = self.pipeline.invitations.refresh(address, "OTP sequence nearly used up")
                self.pipeline.commit_extra(outgoing, actions)

        await asyncio.to_thread(refresh)

    async def stop(self) -> None:
        self.stopping.set()
        if self.web is not None:
            await self.web.cleanup()
        if self.imap is not None:
            await self.imap.stop()
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()
        await self.worker.stop()
        await self.delivery.stop()
        for task in self.tasks:
            with suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=60)
        await asyncio.to_thread(self.pipeline.keyring.close)
        event(log, logging.INFO, "stopped")
        self.stopped.set()

    async def run_until_signal(self) -> None:
        await self.start()
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop_requested.set)
        await stop_requested.wait()
        event(log, logging.INFO, "stopping")
        await self.stop()
