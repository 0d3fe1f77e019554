"""``serve``: the running gateway, assembling listener, workers and HTTP side."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import suppress

from gateway.config_warnings import insecure_combinations
from gateway.delivery import Delivery
from gateway.logs import event, get_logger
from gateway.pipeline import Pipeline
from gateway.settings import Settings
from gateway.smtp_listener import start_listeners
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
        ]
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

    async def stop(self) -> None:
        self.stopping.set()
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()
        await self.worker.stop()
        await self.delivery.stop()
        for task in self.tasks:
            with suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=60)
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
