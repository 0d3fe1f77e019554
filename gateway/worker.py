"""The pipeline worker: takes spooled messages through the pipeline off the event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gateway.logs import event, get_logger
from store.db import Store

log = get_logger("pipeline")

# A message that crashed the pipeline this many times is quarantined instead
# of being tried again, so one bad message cannot stall the queue.
MAX_ATTEMPTS = 3


class PipelineWorker:
    def __init__(self, store: Store, process: Callable[[str], None], concurrency: int = 2) -> None:
        self.store = store
        self.process = process
        self.concurrency = concurrency
        self.wake = asyncio.Event()
        self.stopping = False
        self.busy: set[str] = set()

    def notify(self, queue_id: str | None = None) -> None:
        self.wake.set()

    async def run(self) -> None:
        semaphore = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        while not self.stopping:
            self.wake.clear()
            try:
                queued = await asyncio.to_thread(self.store.queued_spool_ids, 200)
            except Exception as error:  # noqa: BLE001 - the store may come back; keep the worker alive
                log.error("spool-read-failed", exc_info=error)
                queued = []
            for queue_id in queued:
                if queue_id in self.busy:
                    continue
                self.busy.add(queue_id)
                task = asyncio.create_task(self._handle(queue_id, semaphore))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=5.0)
            except TimeoutError:
                pass
        if tasks:
            await asyncio.wait(tasks, timeout=60)

    async def stop(self) -> None:
        self.stopping = True
        self.wake.set()

    async def _handle(self, queue_id: str, semaphore: asyncio.Semaphore) -> None:
        try:
            async with semaphore:
                await asyncio.to_thread(self._process_guarded, queue_id)
        finally:
            self.busy.discard(queue_id)

    def _process_guarded(self, queue_id: str) -> None:
        message = self.store.get_spooled(queue_id)
        if message is None:
            return
        if message.attempts >= MAX_ATTEMPTS:
            self._quarantine(queue_id, f"the pipeline failed on this message {message.attempts} times")
            return
        self.store.count_spool_attempt(queue_id)
        try:
            self.process(queue_id)
        except Exception as error:  # noqa: BLE001 - nothing accepted may be lost or stall the queue
            log.error("pipeline-error", exc_info=error, extra={"fields": {"queue_id": queue_id}})
            self._quarantine(queue_id, f"unexpected error: {type(error).__name__}: {error}")

    def _quarantine(self, queue_id: str, reason: str) -> None:
        message = self.store.get_spooled(queue_id)
        if message is None:
            return
        with self.store.transaction(durable=True):
            entry = self.store.quarantine_message(
                raw=message.raw, reason=reason, spool_id=queue_id, peer=message.peer,
                mail_from=message.mail_from, rcpt_tos=message.rcpt_tos,
            )
            self.store.audit("pipeline", "quarantined", reason, queue_id=queue_id)
            self.store.finish_spooled(queue_id)
        event(log, logging.WARNING, "quarantined", queue_id=queue_id, quarantine_id=entry, reason=reason)
