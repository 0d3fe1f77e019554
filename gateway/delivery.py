"""Delivery: the outbox worker that hands mail to the smarthost.

Each entry is tried per ``[relay] retry_schedule`` until
``max_queue_lifetime``. A 5xx reply, or the end of the lifetime, turns the
failed recipients into a DSN to the envelope sender, except an empty one. An entry is removed only after the smarthost accepted it, so a
crash between the two may send a duplicate but never loses mail.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import aiosmtplib

from gateway.logs import event, get_logger
from gateway.metrics import DELIVERY_FAILURES, DELIVERY_RETRIES
from gateway.settings import Settings
from mime import MimeError
from store.db import Store
from store.outbox import OutboxEntry

log = get_logger("delivery")

# Parallel connections to the smarthost.
CONCURRENCY = 4
CONNECT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Failure:
    """One recipient the smarthost refused, with its SMTP reply."""

    recipient: str
    code: int
    message: str
    expired: bool = False

    @property
    def permanent(self) -> bool:
        return self.expired or 500 <= self.code < 600

    @property
    def status(self) -> str:
        """RFC 3463 status code for the DSN: 5.4.7 once the queue lifetime is over."""
        if self.expired:
            return "5.4.7"
        return "5.0.0" if self.permanent else "4.0.0"


# Builds the bytes of a DSN for an entry and one recipient that failed for good.
DsnBuilder = Callable[[OutboxEntry, list[Failure]], bytes]


class Delivery:
    def __init__(self, settings: Settings, store: Store, build_dsn: DsnBuilder) -> None:
        self.settings = settings
        self.store = store
        self.build_dsn = build_dsn
        self.wake = asyncio.Event()
        self.stopping = False
        self.password = _read_secret(settings.relay.password_file) if settings.relay.password_file else None
        self.ssl_context = (
            ssl.create_default_context(cafile=settings.relay.ca_file) if settings.relay.ca_file else None
        )

    def notify(self) -> None:
        self.wake.set()

    async def run(self) -> None:
        semaphore = asyncio.Semaphore(CONCURRENCY)
        in_flight: set[str] = set()
        tasks: set[asyncio.Task[None]] = set()
        while not self.stopping:
            try:
                due = await asyncio.to_thread(self.store.due_outbox, time.time(), 50)
            except Exception as error:  # noqa: BLE001 - the store may come back; keep the worker alive
                log.error("outbox-read-failed", exc_info=error)
                due = []
            for entry in due:
                if entry.id in in_flight:
                    continue
                in_flight.add(entry.id)
                task = asyncio.create_task(self._attempt_guarded(entry, semaphore, in_flight))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=1.0)
            except TimeoutError:
                pass
        if tasks:
            await asyncio.wait(tasks, timeout=30)

    async def stop(self) -> None:
        self.stopping = True
        self.wake.set()

    async def _attempt_guarded(self, entry: OutboxEntry, semaphore: asyncio.Semaphore, in_flight: set[str]) -> None:
        try:
            async with semaphore:
                await self.attempt(entry)
        except Exception as error:  # noqa: BLE001 - one bad entry must not stop the worker
            log.error("delivery-error", exc_info=error, extra={"fields": {"outbox_id": entry.id}})
            await asyncio.to_thread(self.give_up_or_retry, entry, f"{type(error).__name__}: {error}")
        finally:
            in_flight.discard(entry.id)

    async def attempt(self, entry: OutboxEntry) -> None:
        """Try one entry once and record the outcome."""
        failures = await self.send(entry)
        permanent = [failure for failure in failures if failure.permanent]
        temporary = [failure for failure in failures if not failure.permanent]
        now = time.time()

        if temporary and now >= entry.expires:
            permanent += [replace(failure, expired=True) for failure in temporary]
            temporary = []
        if permanent:
            await asyncio.to_thread(self.bounce, entry, permanent)
        if temporary:
            reason = "; ".join(f"{f.recipient}: {f.code} {f.message}" for f in temporary)
            next_attempt = self.next_attempt(entry)
            await asyncio.to_thread(
                self.store.reschedule, entry.id, next_attempt, reason, [f.recipient for f in temporary]
            )
            DELIVERY_RETRIES.inc()
            event(log, logging.WARNING, "deferred", outbox_id=entry.id, attempts=entry.attempts + 1,
                  retry_in=round(next_attempt - now), reason=reason)
            return

        await asyncio.to_thread(self.store.delivered, entry.id)
        event(log, logging.INFO, "delivered" if not permanent else "finished", outbox_id=entry.id,
              spool_id=entry.spool_id, kind=entry.kind, rcpt_count=len(entry.rcpt_tos) - len(permanent))

    def give_up_or_retry(self, entry: OutboxEntry, reason: str) -> None:
        """After an unexpected error: retry later, or once the lifetime is over, quarantine the entry.

        Quarantine keeps the mail for an operator instead of retrying an
        entry that fails the same way every round.
        """
        if time.time() < entry.expires:
            self.store.reschedule(entry.id, self.next_attempt(entry), reason)
            return
        with self.store.transaction(durable=True):
            self.store.quarantine_message(raw=entry.raw, reason=f"delivery kept failing: {reason}",
                                          spool_id=entry.spool_id, mail_from=entry.mail_from,
                                          rcpt_tos=entry.rcpt_tos)
            self.store.drop_outbox(entry.id)
        event(log, logging.ERROR, "delivery-quarantined", outbox_id=entry.id, reason=reason)

    def next_attempt(self, entry: OutboxEntry) -> float:
        schedule = self.settings.relay.retry_schedule
        wait = schedule[min(entry.attempts, len(schedule) - 1)]
        now = time.time()
        # The last try is due at the end of the lifetime; after it, wait the full interval again.
        return min(now + wait, entry.expires) if now < entry.expires else now + wait

    def bounce(self, entry: OutboxEntry, failures: list[Failure]) -> None:
        """Queue a DSN for recipients that failed for good; a null sender gets none."""
        for failure in failures:
            event(log, logging.WARNING, "failed", outbox_id=entry.id, rcpt=failure.recipient,
                  code=failure.code, reason=failure.message)
            DELIVERY_FAILURES.inc()
        if not entry.mail_from or entry.kind == "dsn":
            return
        with self.store.transaction(durable=True):
            for failure in failures:
                try:
                    dsn = self.build_dsn(entry, [failure])
                except MimeError as error:
                    # The failure is logged above; a DSN that cannot be written is reported, not retried.
                    event(log, logging.ERROR, "dsn-failed", outbox_id=entry.id, rcpt=failure.recipient, error=str(error))
                    continue
                self.store.enqueue(
                    mail_from="", rcpt_tos=[entry.mail_from], raw=dsn,
                    lifetime=self.settings.relay.max_queue_lifetime, kind="dsn", spool_id=entry.spool_id,
                )

    async def send(self, entry: OutboxEntry) -> list[Failure]:
        """Send one entry; return the recipients that were not accepted."""
        relay = self.settings.relay
        start_tls: bool | None = {"none": False, "opportunistic": None, "required": True}[relay.starttls]
        client = aiosmtplib.SMTP(
            hostname=relay.smarthost.host,
            port=relay.smarthost.port,
            start_tls=start_tls,
            validate_certs=relay.starttls == "required",
            tls_context=self.ssl_context,
            local_hostname=self.settings.gateway.hostname,
            timeout=CONNECT_TIMEOUT,
        )
        try:
            await client.connect()
            if relay.username and self.password is not None:
                await self.login(client, relay.username, self.password)
            refused, _ = await client.sendmail(entry.mail_from, list(entry.rcpt_tos), entry.raw)
            return [Failure(rcpt, response.code, response.message) for rcpt, response in refused.items()]
        except aiosmtplib.SMTPRecipientsRefused as error:
            return [Failure(r.recipient, r.code, r.message) for r in error.recipients]
        except aiosmtplib.SMTPResponseException as error:
            return [Failure(rcpt, error.code, error.message) for rcpt in entry.rcpt_tos]
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            return [Failure(rcpt, 451, f"smarthost unreachable: {error}") for rcpt in entry.rcpt_tos]
        except UnicodeError as error:
            # An address or message the smarthost connection cannot carry will never go through.
            return [Failure(rcpt, 554, f"cannot be sent as ASCII: {error}") for rcpt in entry.rcpt_tos]
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()

    async def login(self, client: aiosmtplib.SMTP, username: str, password: str) -> None:
        """Log in to the smarthost; a refusal is our configuration's fault, so it must not bounce mail."""
        try:
            await client.login(username, password)
        except aiosmtplib.SMTPResponseException as error:
            raise aiosmtplib.SMTPException(
                f"smarthost refused AUTH for {username}: {error.code} {error.message}; check [relay] password_file"
            ) from None


def _read_secret(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.readline().rstrip("\r\n")
