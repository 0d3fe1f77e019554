"""Quarantine: messages the gateway will not pass on without an operator."""

from __future__ import annotations

import json
import time
from typing import Any

from store.base import StoreBase
from store.ids import new_id


class QuarantineMixin(StoreBase):
    def quarantine_message(
        self,
        *,
        raw: bytes,
        reason: str,
        spool_id: str | None = None,
        peer: str | None = None,
        mail_from: str | None = None,
        rcpt_tos: list[str] | tuple[str, ...] = (),
    ) -> str:
        """Store a message and why it was held; returns the quarantine id."""
        entry_id = new_id()
        with self.transaction(durable=True) as db:
            db.table("quarantine").insert(
                {
                    "id": entry_id,
                    "created": time.time(),
                    "spool_id": spool_id,
                    "reason": reason,
                    "peer": peer,
                    "mail_from": mail_from,
                    "rcpt_tos": json.dumps(list(rcpt_tos)),
                    "raw": raw,
                }
            )
        return entry_id

    def quarantine_list(self) -> list[dict[str, Any]]:
        return self.query(
            "SELECT id, created, spool_id, reason, peer, mail_from, rcpt_tos, length(raw) AS size "
            "FROM quarantine ORDER BY created"
        )

    def quarantine_get(self, entry_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM quarantine WHERE id = ?", (entry_id,))
        return rows[0] if rows else None

    def quarantine_drop(self, entry_id: str) -> bool:
        with self.transaction() as db:
            cursor = db.execute("DELETE FROM quarantine WHERE id = ?", (entry_id,))
            return cursor.rowcount > 0
