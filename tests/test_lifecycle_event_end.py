"""When recorded events end: single, recurring, overridden, cancelled, in every kind of time zone."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.lifecycle import EventEnd, event_end, latest_instant, parse_calendar, zone_for_tzid

DATA = Path(__file__).parent / "data" / "lifecycle"
RECORDED = datetime(2026, 1, 2, tzinfo=timezone.utc).timestamp()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=timezone.utc)


def fixture(name: str) -> str:
    return (DATA / name).read_bytes().decode()


def uid_of(calendar: str) -> str:
    return str(parse_calendar(calendar).walk("VEVENT")[0]["UID"])


def row(
    name: str | None,
    uid: str | None = None,
    recurrence_id: str = "",
    cancelled: datetime | None = None,
    recorded: float = RECORDED,
) -> dict[str, Any]:
    """An upn_events row as the store returns it, with the calendar read from a fixture file."""
    calendar = fixture(name) if name else None
    return {
        "upn": "guest@remote.example",
        "uid": uid or (uid_of(calendar) if calendar else "missing@example.com"),
        "recurrence_id": recurrence_id,
        "sequence": 0,
        "partstat": "NEEDS-ACTION",
        "summary": None,
        "start": None,
        "calendar": calendar,
        "cancelled": cancelled.timestamp() if cancelled else None,
        "recorded": recorded,
    }


def end_of(*rows: dict[str, Any]) -> EventEnd:
    return event_end(list(rows))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("single-berlin-vtimezone.ics", utc(2026, 3, 10, 10, 30)),
        ("duration-utc.ics", utc(2026, 3, 10, 10, 30)),
        ("weekly-count.ics", utc(2026, 2, 2, 10, 0)),
        # The last occurrence, on 6 April, is in summer time (UTC+2).
        ("weekly-until-across-dst.ics", utc(2026, 4, 6, 9, 0)),
        ("rdate-after-exdate.ics", utc(2026, 1, 15, 10, 0)),
        ("override-moves-last-later.ics", utc(2026, 2, 20, 14, 0)),
        ("windows-zone-with-vtimezone.ics", utc(2026, 7, 8, 9, 30)),
        ("windows-zone-without-vtimezone.ics", utc(2026, 1, 15, 18, 0)),
        ("daily-count-long.ics", utc(2020, 2, 19, 9, 15)),
    ],
)
def test_event_end_of_fixture(name: str, expected: datetime) -> None:
    result = end_of(row(name))

    assert result.end == expected
    assert result.basis == "last occurrence"
    assert not result.never_ends
    assert result.problem is None


def test_event_end_all_day_is_latest_instant() -> None:
    # DTSTART as a DATE with no DTEND lasts one day. The midnight after it, at UTC-12, is noon UTC.
    assert end_of(row("all-day-without-dtend.ics")).end == utc(2026, 3, 11, 12, 0)


def test_event_end_floating_is_latest_instant() -> None:
    assert end_of(row("floating-time.ics")).end == utc(2026, 3, 11, 1, 0)


def test_event_end_unknown_zone_is_floating() -> None:
    assert end_of(row("unknown-zone-without-vtimezone.ics")).end == utc(2026, 1, 15, 22, 0)


def test_event_end_rrule_without_end_never_ends() -> None:
    result = end_of(row("weekly-without-end.ics"))

    assert result.never_ends
    assert result.end is None
    assert result.basis == "RRULE without COUNT or UNTIL"
    assert not result.has_ended(utc(2100, 1, 1))


def test_event_end_custom_zones_with_same_tzid() -> None:
    # Both calendars name their zone "Customized Time Zone", and each must keep its own offset.
    plus_two = end_of(row("custom-zone-plus-two.ics"))
    plus_six = end_of(row("custom-zone-plus-six.ics"))
    plus_two_again = end_of(row("custom-zone-plus-two.ics"))

    assert plus_two.end == utc(2026, 3, 10, 9, 0)
    assert plus_six.end == utc(2026, 3, 10, 5, 0)
    assert plus_two_again.end == utc(2026, 3, 10, 9, 0)


def test_event_end_override_row_moves_last_later() -> None:
    master = row("course-weekly-count-three.ics")
    override = row("override-only-moved-later.ics", recurrence_id="20260119T100000")

    assert end_of(master).end == utc(2026, 1, 19, 10, 0)
    assert end_of(master, override).end == utc(2026, 2, 20, 14, 0)


def test_event_end_override_row_without_master() -> None:
    result = end_of(row("override-only-moved-later.ics", recurrence_id="20260119T100000"))

    assert result.end == utc(2026, 2, 20, 14, 0)


def test_event_end_cancel_of_future_event() -> None:
    cancelled_at = utc(2026, 4, 1, 8, 0)
    result = end_of(row("single-future.ics", cancelled=cancelled_at))

    assert result.end == cancelled_at
    assert result.basis == "CANCEL"
    assert result.has_ended(utc(2026, 4, 1, 8, 0))
    assert not result.has_ended(utc(2026, 4, 1, 7, 59))


def test_event_end_cancel_after_event_ended() -> None:
    result = end_of(row("single-berlin-vtimezone.ics", cancelled=utc(2026, 5, 1)))

    assert result.end == utc(2026, 3, 10, 10, 30)
    assert result.basis == "last occurrence"


def test_event_end_cancel_of_unbounded_series() -> None:
    cancelled_at = utc(2026, 2, 1)
    result = end_of(row("weekly-without-end.ics", cancelled=cancelled_at))

    assert not result.never_ends
    assert result.end == cancelled_at
    assert result.basis == "CANCEL"


def test_event_end_cancelled_last_occurrence_row() -> None:
    master = row("weekly-count.ics")
    cancel = row("cancel-last-occurrence.ics", recurrence_id="20260202T100000", cancelled=utc(2026, 1, 28))

    result = end_of(master, cancel)

    # The occurrence of 26 January ended before the CANCEL of 2 February's arrived.
    assert result.end == utc(2026, 1, 28)
    assert result.basis == "CANCEL"


def test_event_end_cancelled_occurrence_not_last() -> None:
    master = row("weekly-count.ics")
    cancel = row("cancel-last-occurrence.ics", recurrence_id="20260202T100000", cancelled=utc(2026, 1, 10))

    # 26 January (09:00 to 10:00 UTC) is now the last occurrence, later than the CANCEL.
    assert end_of(master, cancel).end == utc(2026, 1, 26, 10, 0)


def test_event_end_status_cancelled_occurrence() -> None:
    recorded_early = utc(2026, 1, 10).timestamp()
    recorded_late = utc(2026, 1, 15).timestamp()

    early = end_of(row("last-occurrence-status-cancelled.ics", recorded=recorded_early))
    late = end_of(row("last-occurrence-status-cancelled.ics", recorded=recorded_late))

    assert early.end == utc(2026, 1, 12, 10, 0)
    assert early.basis == "last occurrence"
    assert late.end == utc(2026, 1, 15)
    assert late.basis == "CANCEL"


def test_event_end_over_occurrence_limit() -> None:
    result = event_end([row("daily-count-long.ics")], max_occurrences=10)

    assert result.never_ends
    assert result.problem is not None
    assert "more than 10 occurrences" in result.problem


def test_event_end_unreadable_calendar() -> None:
    broken = row("single-future.ics")
    broken["calendar"] = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nthis is not a content line\r\n"

    result = end_of(broken)

    assert result.never_ends
    assert result.problem is not None
    assert result.problem.startswith("unreadable calendar")


def test_event_end_without_calendar() -> None:
    result = end_of(row(None, uid="no-calendar@example.com"))

    assert result.never_ends
    assert result.problem == "no calendar with a VEVENT of UID no-calendar@example.com recorded"


def test_event_end_calendar_without_that_uid() -> None:
    result = end_of(row("single-future.ics", uid="other@example.com"))

    assert result.never_ends
    assert result.problem is not None


@pytest.mark.parametrize(
    ("tzid", "expected"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Tokyo Standard Time", "Asia/Tokyo"),
        ("/example.org/Tzfile/America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
        ("/Europe/Vienna", "Europe/Vienna"),
    ],
)
def test_zone_for_tzid_names(tzid: str, expected: str) -> None:
    assert zone_for_tzid(tzid, {}) == ZoneInfo(expected)


def test_zone_for_tzid_unknown_name() -> None:
    assert zone_for_tzid("Nowhere Standard Time", {}) is None
    assert zone_for_tzid("../../etc/passwd", {}) is None


def test_zone_for_tzid_prefers_own_vtimezone() -> None:
    own = ZoneInfo("Asia/Tokyo")
    assert zone_for_tzid("Europe/Berlin", {"Europe/Berlin": own}) is own


def test_latest_instant_forms() -> None:
    assert latest_instant(datetime(2026, 3, 10, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))) == utc(2026, 3, 10, 11, 0)
    assert latest_instant(datetime(2026, 3, 10, 12, 0)) == utc(2026, 3, 11, 0, 0)
    assert latest_instant(datetime(2026, 3, 10).date()) == utc(2026, 3, 10, 12, 0)
