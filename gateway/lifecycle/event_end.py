"""When a recorded event ends: DTEND or DURATION, recurrences, overrides and CANCELs.

The rows of ``upn_events`` that share a UID make up one event: the master
(``recurrence_id`` empty) and any single occurrences recorded on their own.
Each row keeps the whole calendar it came in, and the series is rebuilt from
those calendars and expanded with recurring-ical-events.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import icalendar
import recurring_ical_events

from gateway.lifecycle.zones import latest_instant, parse_calendar, recurrence_id_of, recurrence_key

# Upper bound on the occurrences expanded for one event. A finite series
# longer than this (a daily event for about 27 years) is treated as never
# ending, which keeps its UPN instead of revoking it on a guess.
MAX_OCCURRENCES = 10_000

# Values of EventEnd.basis.
LAST_OCCURRENCE = "last occurrence"
CANCELLED = "CANCEL"
UNBOUNDED = "RRULE without COUNT or UNTIL"
NO_OCCURRENCE = "no occurrence"
UNKNOWN = "unknown"

RecurrenceKey = date | datetime


@dataclass(frozen=True)
class EventEnd:
    """When one recorded event (a UID with its overrides) ends, as far as the gateway can tell."""

    uid: str
    end: datetime | None
    """UTC instant the last occurrence ends, or None when the event never ends or has no occurrence."""
    basis: str
    """The source of ``end``: ``last occurrence`` or ``CANCEL``, or the reason there is none."""
    never_ends: bool = False
    problem: str | None = None
    """The reason the end could not be computed. Such an event is treated as never ending."""

    def has_ended(self, now: datetime) -> bool:
        return not self.never_ends and (self.end is None or self.end <= now)


@dataclass
class _Source:
    """One VEVENT of the event, with the row it was recorded in."""

    component: icalendar.Component
    row: Mapping[str, Any]

    @property
    def rank(self) -> tuple[int, float]:
        """Sort key of versions of one VEVENT: SEQUENCE, then when the gateway recorded it. Larger is newer."""
        try:
            sequence = int(self.component.get("SEQUENCE", self.row["sequence"] or 0))
        except (TypeError, ValueError):
            sequence = int(self.row["sequence"] or 0)
        return (sequence, float(self.row["recorded"]))

    @property
    def recurrence_key(self) -> RecurrenceKey:
        return recurrence_key(recurrence_id_of(self.component))

    @property
    def status_cancelled(self) -> bool:
        return str(self.component.get("STATUS", "")).upper() == "CANCELLED"


def event_end(rows: Sequence[Mapping[str, Any]], max_occurrences: int = MAX_OCCURRENCES) -> EventEnd:
    """Compute when the event recorded in ``rows`` (one UPN's rows for one UID) ends.

    A CANCEL ends what it names: a cancelled master row the whole event, a
    cancelled occurrence row that occurrence. STATUS:CANCELLED on the master
    or an override does the same, as of the time its row was recorded. A
    cancelled occurrence that had not ended yet ends at its CANCEL.
    """
    uid = str(rows[0]["uid"])
    try:
        sources = _read_sources(uid, rows)
        if not sources:
            return _unknown(uid, f"no calendar with a VEVENT of UID {uid} recorded")
        master, overrides = _series_parts(sources)
        cancelled = _cancelled_occurrences(sources, overrides)
    except ValueError as error:
        return _unknown(uid, f"unreadable calendar: {error}")

    series_cancelled = _series_cancel_time(rows, master)
    if master is not None and _has_unbounded_rule(master.component):
        if series_cancelled is not None:
            return EventEnd(uid, series_cancelled, CANCELLED)
        return EventEnd(uid, None, UNBOUNDED, never_ends=True)

    calendar = _series_calendar(master, overrides)
    return _last_end(uid, calendar, series_cancelled, cancelled, max_occurrences)


def _unknown(uid: str, problem: str) -> EventEnd:
    return EventEnd(uid, None, UNKNOWN, never_ends=True, problem=problem)


def _read_sources(uid: str, rows: Sequence[Mapping[str, Any]]) -> list[_Source]:
    """Pair each row with the VEVENTs of ``uid`` it recorded. A row without a calendar adds none.

    A master row brings every VEVENT of its calendar (the master and the
    overrides sent with it). An occurrence row brings only the override its
    ``recurrence_id`` names, because its calendar may carry others too.
    """
    parsed: dict[str, list[icalendar.Component]] = {}
    sources: list[_Source] = []
    for row in rows:
        text = row["calendar"]
        if not text:
            continue
        if text not in parsed:
            parsed[text] = [c for c in parse_calendar(str(text)).walk("VEVENT") if str(c.get("UID", "")) == uid]
        components = parsed[text]
        if row["recurrence_id"]:
            components = _named_override(components, str(row["recurrence_id"]))
        sources.extend(_Source(component, row) for component in components)
    return sources


def _named_override(components: Sequence[icalendar.Component], recurrence_id: str) -> list[icalendar.Component]:
    """Return the override whose RECURRENCE-ID is written as ``recurrence_id``, or the only override."""
    overrides = [component for component in components if "RECURRENCE-ID" in component]
    expected = recurrence_id.strip().upper().removesuffix("Z")
    named = [component for component in overrides if _written_wall_time(component) == expected]
    if named:
        return named[:1]
    return overrides if len(overrides) == 1 else []


def _written_wall_time(component: icalendar.Component) -> str:
    """Return the RECURRENCE-ID's wall-clock value as written, without zone: 20260119T100000 or 20260119."""
    value = recurrence_id_of(component)
    if isinstance(value, datetime):
        return value.strftime("%Y%m%dT%H%M%S")
    return value.strftime("%Y%m%d")


def _series_parts(sources: Sequence[_Source]) -> tuple[_Source | None, list[_Source]]:
    """Return the master VEVENT and the newest override for each RECURRENCE-ID."""
    masters = [source for source in sources if "RECURRENCE-ID" not in source.component]
    # The master row's own copy wins over a master another row happened to carry.
    masters.sort(key=lambda source: (not source.row["recurrence_id"], source.rank))
    overrides: dict[RecurrenceKey, _Source] = {}
    for source in sources:
        if "RECURRENCE-ID" not in source.component:
            continue
        key = source.recurrence_key
        if key not in overrides or source.rank > overrides[key].rank:
            overrides[key] = source
    return (masters[-1] if masters else None), list(overrides.values())


def _cancel_time(row: Mapping[str, Any]) -> datetime | None:
    if row["cancelled"] is None:
        return None
    return datetime.fromtimestamp(float(row["cancelled"]), timezone.utc)


def _recorded_time(row: Mapping[str, Any]) -> datetime:
    return datetime.fromtimestamp(float(row["recorded"]), timezone.utc)


def _series_cancel_time(rows: Sequence[Mapping[str, Any]], master: _Source | None) -> datetime | None:
    """Return when the whole event was cancelled, or None when it was not."""
    times = [at for row in rows if not row["recurrence_id"] and (at := _cancel_time(row)) is not None]
    if master is not None and master.status_cancelled:
        times.append(_recorded_time(master.row))
    return min(times, default=None)


def _has_unbounded_rule(component: icalendar.Component) -> bool:
    rules = component.get("RRULE")
    if rules is None:
        return False
    return any("COUNT" not in rule and "UNTIL" not in rule for rule in (rules if isinstance(rules, list) else [rules]))


def _cancelled_occurrences(sources: Sequence[_Source], overrides: Sequence[_Source]) -> dict[RecurrenceKey, datetime]:
    """Map the RECURRENCE-ID of each cancelled occurrence to when it was cancelled.

    An occurrence row marked cancelled counts from its CANCEL, and the
    newest version of an override with STATUS:CANCELLED from when its row
    was recorded. The RECURRENCE-ID is read from the VEVENT, because only
    there does it carry its TZID.
    """
    newest = {id(source) for source in overrides}
    cancelled: dict[RecurrenceKey, datetime] = {}
    for source in sources:
        if "RECURRENCE-ID" not in source.component:
            continue
        at = _cancel_time(source.row) if source.row["recurrence_id"] else None
        if at is None and id(source) in newest and source.status_cancelled:
            at = _recorded_time(source.row)
        if at is not None:
            key = source.recurrence_key
            cancelled[key] = min(at, cancelled.get(key, at))
    return cancelled


def _series_calendar(master: _Source | None, overrides: Sequence[_Source]) -> icalendar.Calendar:
    """Put the series into a calendar of its own, the form recurring-ical-events expands.

    Its zones are already bound, so the calendar needs no VTIMEZONE.
    """
    calendar = icalendar.Calendar()
    for source in ([master] if master else []) + list(overrides):
        calendar.add_component(source.component)
    return calendar


def _last_end(
    uid: str,
    calendar: icalendar.Calendar,
    series_cancelled: datetime | None,
    cancelled: Mapping[RecurrenceKey, datetime],
    max_occurrences: int,
) -> EventEnd:
    try:
        occurrences = list(itertools.islice(recurring_ical_events.of(calendar).all(), max_occurrences + 1))
        if len(occurrences) > max_occurrences:
            if series_cancelled is not None:
                return EventEnd(uid, series_cancelled, CANCELLED)
            return _unknown(uid, f"more than {max_occurrences} occurrences, so the end is not computed")
        ends = [
            _occurrence_end(occurrence, series_cancelled, cancelled)
            for occurrence in occurrences
            if isinstance(occurrence, icalendar.Event)
        ]
    except (ValueError, KeyError, TypeError) as error:
        return _unknown(uid, f"recurrence cannot be expanded: {error}")

    if not ends:
        if series_cancelled is not None:
            return EventEnd(uid, series_cancelled, CANCELLED)
        return EventEnd(uid, None, NO_OCCURRENCE)
    end, basis = max(ends, key=lambda item: item[0])
    return EventEnd(uid, end, basis)


def _occurrence_end(
    occurrence: icalendar.Event,
    series_cancelled: datetime | None,
    cancelled: Mapping[RecurrenceKey, datetime],
) -> tuple[datetime, str]:
    """Return when one occurrence ends and why: its own end, or the CANCEL that came first."""
    end = latest_instant(occurrence.end)
    cancelled_at = series_cancelled
    if cancelled_at is None and "RECURRENCE-ID" in occurrence:
        cancelled_at = cancelled.get(recurrence_key(recurrence_id_of(occurrence)))
    if cancelled_at is not None and cancelled_at < end:
        return cancelled_at, CANCELLED
    return end, LAST_OCCURRENCE
