"""The audit log: every decision the gateway takes, with its reason."""

from __future__ import annotations

import time
from typing import Any

from store.base import StoreBase


class AuditMixin(StoreBase):
    def audit(
        self,
        event: str,
        outcome: str,
        reason: str | None = None,
        *,
        message_id: str | None = None,
        queue_id: str | None = None,
        upn: str | None = None,
    ) -> None:
        """Append one decision; joins the caller's transaction when there is one."""
        with self.transaction() as db:
            db.table("audit").insert(
                {
                    "at": time.time(),
                    "event": event,
                    "outcome": outcome,
                    "reason": reason,
                    "message_id": message_id,
                    "queue_id": queue_id,
                    "upn": upn,
                }
            )

    def audit_entries(self, upn: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Return the latest decisions, newest first, optionally for one UPN."""
        if upn is None:
            return self.query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return self.query("SELECT * FROM audit WHERE upn = ? ORDER BY id DESC LIMIT ?", (upn, limit))
