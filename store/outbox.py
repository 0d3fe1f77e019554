"""The outbox: mail waiting for delivery to the smarthost, with its retry state."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from store.base import StoreBase
from store.ids import new_id


@dataclass(frozen=True)
class OutboxEntry:
    id: str
    spool_id: str | None
    created: float
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    kind: str
    attempts: int
    next_attempt: float
    expires: float
    last_error: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> OutboxEntry:
        return cls(
            id=row["id"],
            spool_id=row["spool_id"],
            created=row["created"],
            mail_from=row["mail_from"],
            rcpt_tos=tuple(json.loads(row["rcpt_tos"])),
            raw=bytes(row["raw"]),
            kind=row["kind"],
            attempts=row["attempts"],
            next_attempt=row["next_attempt"],
            expires=row["expires"],
            last_error=row["last_error"],
        )


class OutboxMixin(StoreBase):
    def enqueue(
        self,
        *,
        mail_from: str,
        rcpt_tos: list[str] | tuple[str, ...],
        raw: bytes,
        lifetime: float,
        kind: str = "relay",
        spool_id: str | None = None,
    ) -> str:
        """Queue one mail for delivery; joins the caller's transaction when there is one."""
        entry_id = new_id()
        now = time.time()
        with self.transaction(durable=True) as db:
            db.table("outbox").insert(
                {
                    "id": entry_id,
                    "spool_id": spool_id,
                    "created": now,
                    "mail_from": mail_from,
                    "rcpt_tos": json.dumps(list(rcpt_tos)),
                    "raw": raw,
                    "kind": kind,
                    "state": "queued",
                    "attempts": 0,
                    "next_attempt": now,
                    "expires": now + lifetime,
                }
            )
        return entry_id

    def due_outbox(self, now: float, limit: int = 50) -> list[OutboxEntry]:
        rows = self.query(
            "SELECT * FROM outbox WHERE state = 'queued' AND next_attempt <= ? ORDER BY next_attempt LIMIT ?",
            (now, limit),
        )
        return [OutboxEntry.from_row(row) for row in rows]

    def get_outbox(self, entry_id: str) -> OutboxEntry | None:
        rows = self.query("SELECT * FROM outbox WHERE id = ?", (entry_id,))
        return OutboxEntry.from_row(rows[0]) if rows else None

    def outbox_list(self) -> list[dict[str, Any]]:
        return self.query(
            "SELECT id, spool_id, created, mail_from, rcpt_tos, kind, state, attempts, next_attempt, "
            "expires, last_error, length(raw) AS size FROM outbox ORDER BY created"
        )

    def delivered(self, entry_id: str) -> None:
        # Not durable: if a crash loses this delete, the mail is sent again, which the delivery rules allow.
        with self.transaction() as db:
            db.execute("DELETE FROM outbox WHERE id = ?", (entry_id,))

    def reschedule(
        self, entry_id: str, next_attempt: float, error: str, rcpt_tos: list[str] | tuple[str, ...] | None = None
    ) -> None:
        """Count a failed attempt; ``rcpt_tos`` narrows the entry to the recipients still to try."""
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?",
                (next_attempt, error, entry_id),
            )
            if rcpt_tos is not None:
                db.execute("UPDATE outbox SET rcpt_tos = ? WHERE id = ?", (json.dumps(list(rcpt_tos)), entry_id))

    def retry_now(self, entry_id: str) -> bool:
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE outbox SET next_attempt = ?, state = 'queued' WHERE id = ?", (time.time(), entry_id)
            )
            return cursor.rowcount > 0

    def drop_outbox(self, entry_id: str) -> bool:
        with self.transaction() as db:
            cursor = db.execute("DELETE FROM outbox WHERE id = ?", (entry_id,))
            return cursor.rowcount > 0

    def outbox_stats(self, now: float) -> tuple[int, float]:
        """Return the queue depth and the age in seconds of the oldest queued entry."""
        rows = self.query("SELECT COUNT(*) AS n, MIN(created) AS oldest FROM outbox WHERE state = 'queued'")
        oldest = rows[0]["oldest"]
        return rows[0]["n"], (now - oldest) if oldest else 0.0
