"""Dynamic UPNs, the events each was invited to, and their OTP verifier state.

A UPN row contains no secret: only the RFC 2289 verifier state (whose last
password is already spent), hashes of the signup token and password, and
the fingerprint of the key its invitation was encrypted to.
"""

from __future__ import annotations

import time
from typing import Any

from store.base import StoreBase

UPN_STATES = ("invited", "held", "active", "revoked")


class UpnsMixin(StoreBase):
    def create_upn(self, address: str, original: str, state: str, **fields: Any) -> None:
        """Insert a new UPN row keyed by its normalised address."""
        if state not in UPN_STATES:
            raise ValueError(f"UPN state {state!r} is not one of {', '.join(UPN_STATES)}")
        now = time.time()
        with self.transaction() as db:
            db.table("upns").insert(
                {"address": address, "original": original, "state": state, "created": now, "updated": now, **fields}
            )

    def update_upn(self, address: str, **fields: Any) -> None:
        """Change some columns of one UPN; joins the caller's transaction when there is one."""
        if "state" in fields and fields["state"] not in UPN_STATES:
            raise ValueError(f"UPN state {fields['state']!r} is not one of {', '.join(UPN_STATES)}")
        with self.transaction() as db:
            db.table("upns").update(address, {**fields, "updated": time.time()})

    def get_upn(self, address: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM upns WHERE address = ?", (address,))
        return rows[0] if rows else None

    def upn_by_signup_hash(self, token_hash: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM upns WHERE signup_token_hash = ?", (token_hash,))
        return rows[0] if rows else None

    def list_upns(self, state: str | None = None) -> list[dict[str, Any]]:
        if state is None:
            return self.query("SELECT * FROM upns ORDER BY created")
        return self.query("SELECT * FROM upns WHERE state = ? ORDER BY created", (state,))

    def record_upn_event(
        self,
        upn: str,
        uid: str,
        recurrence_id: str = "",
        sequence: int = 0,
        partstat: str | None = None,
        calendar: str | None = None,
        summary: str | None = None,
        start: str | None = None,
    ) -> None:
        """Record (or update to a newer SEQUENCE) one event a UPN is invited to.

        ``calendar`` is the whole VCALENDAR text the event came in, time zones
        included, so its end can be computed later.
        """
        with self.transaction() as db:
            db.execute(
                "INSERT INTO upn_events (upn, uid, recurrence_id, sequence, partstat, summary, start, calendar, "
                "recorded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (upn, uid, recurrence_id) DO UPDATE SET "
                "sequence = excluded.sequence, partstat = excluded.partstat, summary = excluded.summary, "
                "start = excluded.start, calendar = excluded.calendar, recorded = excluded.recorded, "
                "cancelled = NULL "
                "WHERE excluded.sequence >= upn_events.sequence",
                (upn, uid, recurrence_id, sequence, partstat, summary, start, calendar, time.time()),
            )

    def set_event_partstat(self, upn: str, uid: str, partstat: str, recurrence_id: str = "") -> None:
        """Record the attendee's PARTSTAT (from its REPLY) for one event."""
        with self.transaction() as db:
            db.execute(
                "UPDATE upn_events SET partstat = ? WHERE upn = ? AND uid = ? AND recurrence_id = ?",
                (partstat, upn, uid, recurrence_id),
            )

    def upn_events(self, upn: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM upn_events WHERE upn = ? ORDER BY recorded", (upn,))

    def upn_has_event(self, upn: str, uid: str) -> bool:
        rows = self.query("SELECT 1 FROM upn_events WHERE upn = ? AND uid = ? LIMIT 1", (upn, uid))
        return bool(rows)

    def cancel_events(self, uid: str, recurrence_id: str | None = None, calendar: str | None = None) -> int:
        """Mark the recorded events with this UID (all, or one occurrence) as cancelled.

        Cancelling one occurrence of a series recorded only as its master adds
        a cancelled row for that occurrence, carrying the CANCEL's calendar.
        Returns how many rows are now cancelled by this call.
        """
        now = time.time()
        with self.transaction() as db:
            if not recurrence_id:
                return db.execute("UPDATE upn_events SET cancelled = ? WHERE uid = ?", (now, uid)).rowcount
            db.execute(
                "INSERT OR IGNORE INTO upn_events (upn, uid, recurrence_id, sequence, calendar, recorded) "
                "SELECT DISTINCT upn, uid, ?, 0, ?, ? FROM upn_events WHERE uid = ? AND recurrence_id = ''",
                (recurrence_id, calendar, now, uid),
            )
            return db.execute(
                "UPDATE upn_events SET cancelled = ? WHERE uid = ? AND recurrence_id = ?", (now, uid, recurrence_id)
            ).rowcount
