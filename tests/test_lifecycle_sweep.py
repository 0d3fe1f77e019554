"""The lifecycle sweep against a real SQLite store, under a clock the test sets."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gateway.lifecycle import run_sweeper, sweep, upn_status
from gateway.settings import Settings
from store.db import Store, open_store
from tests.harness import make_settings

DATA = Path(__file__).parent / "data" / "lifecycle"
GUEST = "guest@remote.example"
GRACE = timedelta(days=30)
CREATED = datetime(2026, 1, 1, tzinfo=timezone.utc)
# single-berlin-vtimezone.ics ends at 10:30 UTC on 10 March 2026.
BERLIN_END = datetime(2026, 3, 10, 10, 30, tzinfo=timezone.utc)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=timezone.utc)


@pytest.fixture
def store(state_dir: Path) -> Iterator[Store]:
    opened = open_store(state_dir / "gateway.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def expire(state_dir: Path) -> Settings:
    return make_settings(state_dir, lifecycle_policy="expire", lifecycle_grace="30d")


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """The lifecycle logger's records, caught by a handler of its own.

    Other tests may stop the gateway's loggers from propagating to the root
    logger, where pytest's caplog listens.
    """
    handler = ListHandler()
    logger = logging.getLogger("imip_gateway.lifecycle")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def add_upn(store: Store, address: str = GUEST, state: str = "active", created: datetime = CREATED) -> None:
    store.create_upn(address, address, state)
    store.update_upn(address, created=created.timestamp())


def add_event(store: Store, fixture: str, address: str = GUEST, partstat: str = "NEEDS-ACTION",
              recurrence_id: str = "") -> str:
    calendar = (DATA / fixture).read_bytes().decode()
    uid = next(line[4:] for line in calendar.split("\r\n") if line.startswith("UID:"))
    store.record_upn_event(address, uid, recurrence_id, 0, partstat, calendar, "summary", None)
    return uid


def cancel_at(store: Store, uid: str, when: datetime, recurrence_id: str | None = None) -> None:
    """Record a CANCEL the way the pipeline does, then move its time to the test's clock."""
    store.cancel_events(uid, recurrence_id)
    with store.transaction() as db:
        db.execute("UPDATE upn_events SET cancelled = ? WHERE uid = ?", (when.timestamp(), uid))


def state_of(store: Store, address: str = GUEST) -> str:
    row = store.get_upn(address)
    assert row is not None
    return str(row["state"])


def test_sweep_keep_policy_revokes_nothing(store: Store, state_dir: Path) -> None:
    settings = make_settings(state_dir, lifecycle_policy="keep")
    add_upn(store)
    add_event(store, "single-berlin-vtimezone.ics")

    assert sweep(settings, store, utc(2030, 1, 1)) == []
    assert state_of(store) == "active"


def test_sweep_revokes_after_grace(store: Store, expire: Settings, records: list[logging.LogRecord]) -> None:
    add_upn(store)
    add_event(store, "single-berlin-vtimezone.ics", partstat="ACCEPTED")
    now = BERLIN_END + GRACE + timedelta(seconds=1)

    actions = sweep(expire, store, now)

    assert [action.address for action in actions] == [GUEST]
    assert actions[0].revoked
    assert actions[0].state == "active"
    assert actions[0].idle_since == BERLIN_END
    assert "last event single-berlin@example.com ended 2026-03-10T10:30:00Z" in actions[0].reason
    assert state_of(store) == "revoked"
    row = store.get_upn(GUEST)
    assert row is not None
    assert row["reason"].startswith("expired: no current or future event")
    audit = store.audit_entries(upn=GUEST, limit=1)[0]
    assert (audit["event"], audit["outcome"]) == ("upn", "revoked")
    assert "2026-03-10T10:30:00Z" in audit["reason"]
    revoked_logs = [r for r in records if r.getMessage() == "revoked"]
    assert len(revoked_logs) == 1
    assert revoked_logs[0].fields["upn"] == GUEST  # type: ignore[attr-defined]


def test_sweep_keeps_within_grace(store: Store, expire: Settings) -> None:
    add_upn(store)
    add_event(store, "single-berlin-vtimezone.ics")

    assert sweep(expire, store, BERLIN_END + GRACE) == []
    assert state_of(store) == "active"


def test_sweep_keeps_future_event(store: Store, expire: Settings) -> None:
    add_upn(store)
    uid = add_event(store, "single-future.ics")
    now = utc(2026, 8, 1)

    assert sweep(expire, store, now) == []
    status = upn_status(store.get_upn(GUEST) or {}, store.upn_events(GUEST), now)
    assert status.open_events == (uid,)
    assert status.awaiting_reply == (uid,)
    assert status.idle_since is None


def test_sweep_keeps_current_event(store: Store, expire: Settings) -> None:
    add_upn(store, created=utc(2025, 1, 1))
    add_event(store, "single-berlin-vtimezone.ics", partstat="ACCEPTED")
    now = utc(2026, 3, 10, 10, 0)

    status = upn_status(store.get_upn(GUEST) or {}, store.upn_events(GUEST), now)

    assert status.open_events == ("single-berlin@example.com",)
    assert status.awaiting_reply == ()
    assert sweep(expire, store, now) == []


def test_sweep_keeps_unbounded_series(store: Store, expire: Settings) -> None:
    add_upn(store, created=utc(2024, 1, 1))
    add_event(store, "weekly-without-end.ics", partstat="ACCEPTED")

    assert sweep(expire, store, utc(2040, 1, 1)) == []
    assert state_of(store) == "active"


def test_sweep_counts_recurring_last_occurrence(store: Store, expire: Settings) -> None:
    add_upn(store)
    add_event(store, "weekly-count.ics", partstat="ACCEPTED")
    last_end = utc(2026, 2, 2, 10, 0)

    assert sweep(expire, store, last_end + GRACE) == []
    actions = sweep(expire, store, last_end + GRACE + timedelta(minutes=1))
    assert [action.idle_since for action in actions] == [last_end]


def test_sweep_override_row_delays_revocation(store: Store, expire: Settings) -> None:
    add_upn(store)
    add_event(store, "course-weekly-count-three.ics", partstat="ACCEPTED")
    add_event(store, "override-only-moved-later.ics", partstat="ACCEPTED", recurrence_id="20260119T100000")
    # Without the override the series would end at 10:00 UTC on 19 January.
    moved_end = utc(2026, 2, 20, 14, 0)

    assert sweep(expire, store, utc(2026, 1, 19, 10, 0) + GRACE + timedelta(days=1)) == []
    actions = sweep(expire, store, moved_end + GRACE + timedelta(seconds=1))
    assert [action.idle_since for action in actions] == [moved_end]


def test_sweep_windows_zone_event(store: Store, expire: Settings) -> None:
    add_upn(store)
    add_event(store, "windows-zone-with-vtimezone.ics", partstat="DECLINED")
    last_end = utc(2026, 7, 8, 9, 30)

    assert sweep(expire, store, last_end + GRACE) == []
    actions = sweep(expire, store, last_end + GRACE + timedelta(seconds=1))
    assert "ended 2026-07-08T09:30:00Z" in actions[0].reason


def test_sweep_cancel_of_only_event(store: Store, expire: Settings) -> None:
    add_upn(store)
    uid = add_event(store, "single-future.ics")
    cancelled = utc(2026, 4, 1, 12, 0)
    cancel_at(store, uid, cancelled)

    assert sweep(expire, store, cancelled + GRACE) == []
    actions = sweep(expire, store, cancelled + GRACE + timedelta(seconds=1))
    assert len(actions) == 1
    assert "last event future@example.com cancelled 2026-04-01T12:00:00Z" in actions[0].reason
    assert state_of(store) == "revoked"


def test_sweep_without_events_uses_creation(store: Store, expire: Settings) -> None:
    add_upn(store, "old@remote.example", state="invited", created=utc(2026, 1, 1))
    add_upn(store, "new@remote.example", state="invited", created=utc(2026, 1, 15))

    actions = sweep(expire, store, utc(2026, 2, 1))

    assert [action.address for action in actions] == ["old@remote.example"]
    assert actions[0].reason.startswith("no event recorded; created 2026-01-01T00:00:00Z")
    assert state_of(store, "new@remote.example") == "invited"


def test_sweep_event_ended_before_creation(store: Store, expire: Settings) -> None:
    created = utc(2026, 4, 1)
    add_upn(store, created=created)
    add_event(store, "single-berlin-vtimezone.ics")

    assert sweep(expire, store, created + GRACE) == []
    actions = sweep(expire, store, created + GRACE + timedelta(seconds=1))
    assert "before the UPN was created 2026-04-01T00:00:00Z" in actions[0].reason


def test_sweep_only_swept_states(store: Store, expire: Settings) -> None:
    for address, state in (("held@remote.example", "held"), ("invited@remote.example", "invited"),
                           ("active@remote.example", "active"), ("revoked@remote.example", "revoked")):
        add_upn(store, address, state=state)

    actions = sweep(expire, store, CREATED + GRACE + timedelta(days=1))

    assert sorted(action.address for action in actions) == [
        "active@remote.example", "held@remote.example", "invited@remote.example"]
    assert store.audit_entries(upn="revoked@remote.example") == []


def test_sweep_dry_run_changes_nothing(store: Store, expire: Settings, records: list[logging.LogRecord]) -> None:
    add_upn(store)
    add_event(store, "single-berlin-vtimezone.ics")

    actions = sweep(expire, store, BERLIN_END + GRACE + timedelta(days=1), dry_run=True)

    assert [(action.address, action.revoked) for action in actions] == [(GUEST, False)]
    assert state_of(store) == "active"
    assert store.audit_entries(upn=GUEST) == []
    assert [r.getMessage() for r in records if r.getMessage() != "sweep"] == ["would-revoke"]


def test_sweep_latest_event_decides(store: Store, expire: Settings) -> None:
    add_upn(store)
    add_event(store, "single-berlin-vtimezone.ics")
    add_event(store, "single-future.ics", partstat="ACCEPTED")

    assert sweep(expire, store, utc(2026, 9, 1, 9, 0) + GRACE) == []
    actions = sweep(expire, store, utc(2026, 9, 1, 9, 0) + GRACE + timedelta(seconds=1))
    assert "last event future@example.com ended 2026-09-01T09:00:00Z" in actions[0].reason


def test_sweep_unreadable_event_keeps_upn(store: Store, expire: Settings,
                                          records: list[logging.LogRecord]) -> None:
    # A UID of its own, because the warning is given once per process and event.
    uid = f"broken-{uuid.uuid4()}@example.com"
    add_upn(store)
    store.record_upn_event(GUEST, uid, "", 0, "ACCEPTED", "not a calendar", None, None)

    assert sweep(expire, store, utc(2030, 1, 1)) == []
    assert sweep(expire, store, utc(2030, 1, 2)) == []

    warnings = [r for r in records if r.getMessage() == "event-end-unknown"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert warnings[0].fields["uid"] == uid  # type: ignore[attr-defined]
    assert state_of(store) == "active"


def test_sweep_rejects_naive_now(store: Store, expire: Settings) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sweep(expire, store, datetime(2026, 1, 1))


async def test_run_sweeper_revokes_and_stops(state_dir: Path, store: Store) -> None:
    settings = make_settings(state_dir, lifecycle_policy="expire", lifecycle_grace="1d",
                             lifecycle_sweep_interval="1h")
    add_upn(store, created=utc(2001, 1, 1))
    add_event(store, "daily-count-long.ics", partstat="ACCEPTED")
    stop = asyncio.Event()

    task = asyncio.create_task(run_sweeper(settings, store, stop))
    for _ in range(200):
        if state_of(store) == "revoked":
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, timeout=5)

    assert state_of(store) == "revoked"


async def test_run_sweeper_returns_under_keep(state_dir: Path, store: Store) -> None:
    settings = make_settings(state_dir, lifecycle_policy="keep")

    await asyncio.wait_for(run_sweeper(settings, store, asyncio.Event()), timeout=5)


def test_sweep_rechecks_before_revoking(store: Store, expire: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    add_upn(store)
    add_event(store, "single-berlin-vtimezone.ics")
    read_events = store.upn_events
    calls = 0

    def events_then_new_invitation(address: str) -> list[dict[str, Any]]:
        # The pipeline links a future event right after the sweep's first read.
        nonlocal calls
        calls += 1
        rows = read_events(address)
        if calls == 1:
            add_event(store, "single-future.ics")
        return rows

    monkeypatch.setattr(store, "upn_events", events_then_new_invitation)

    assert sweep(expire, store, BERLIN_END + GRACE + timedelta(days=1)) == []
    assert calls == 2
    assert state_of(store) == "active"
