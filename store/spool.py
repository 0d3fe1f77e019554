"""The spool: every accepted message, committed before the SMTP 250."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from store.base import StoreBase
from store.ids import new_id


@dataclass(frozen=True)
class SpooledMessage:
    id: str
    received: float
    peer: str
    helo: str | None
    mail_from: str
    rcpt_tos: tuple[str, ...]
    trusted: bool
    auth_user: str | None
    tls: bool
    source: str
    raw: bytes
    attempts: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SpooledMessage:
        return cls(
            id=row["id"],
            received=row["received"],
            peer=row["peer"],
            helo=row["helo"],
            mail_from=row["mail_from"],
            rcpt_tos=tuple(json.loads(row["rcpt_tos"])),
            trusted=bool(row["trusted"]),
            auth_user=row["auth_user"],
            tls=bool(row["tls"]),
            source=row["source"],
            raw=bytes(row["raw"]),
            attempts=row["attempts"],
        )


class SpoolMixin(StoreBase):
    def spool_message(
        self,
        *,
        raw: bytes,
        peer: str,
        helo: str | None,
        mail_from: str,
        rcpt_tos: list[str] | tuple[str, ...],
        trusted: bool,
        auth_user: str | None = None,
        tls: bool = False,
        source: str = "smtp",
    ) -> str:
        """Commit one accepted message durably and return its queue id."""
        queue_id = new_id()
        with self.transaction(durable=True) as db:
            db.table("spool").insert(
                {
                    "id": queue_id,
                    "received": time.time(),
                    "peer": peer,
                    "helo": helo,
                    "mail_from": mail_from,
                    "rcpt_tos": json.dumps(list(rcpt_tos)),
                    "trusted": int(trusted),
                    "auth_user": auth_user,
                    "tls": int(tls),
                    "source": source,
                    "raw": raw,
                    "state": "queued",
                }
            )
        return queue_id

    def queued_spool_ids(self, limit: int = 100) -> list[str]:
        """Ids of messages waiting for the pipeline, oldest first."""
        rows = self.query(
            "SELECT id FROM spool WHERE state = 'queued' ORDER BY received LIMIT ?", (limit,)
        )
        return [row["id"] for row in rows]

    def get_spooled(self, queue_id: str) -> SpooledMessage | None:
        rows = self.query("SELECT * FROM spool WHERE id = ?", (queue_id,))
        return SpooledMessage.from_row(rows[0]) if rows else None

    def count_spool_attempt(self, queue_id: str) -> None:
        """Record that the pipeline started on a message, so a message that keeps crashing it is noticed."""
        with self.transaction() as db:
            db.execute("UPDATE spool SET attempts = attempts + 1 WHERE id = ?", (queue_id,))

    def finish_spooled(self, queue_id: str) -> None:
        """Drop a message the pipeline has fully handed on (outbox or quarantine)."""
        with self.transaction(durable=True) as db:
            db.execute("DELETE FROM spool WHERE id = ?", (queue_id,))
