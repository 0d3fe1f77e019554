"""Reading recorded calendars with each time zone as the calendar itself defines it.

icalendar keeps one process-wide table of custom zones, filled by the first
calendar that defines each TZID. Two calendars that define the same TZID
differently (Outlook's "Customized Time Zone" is a common case) would then
share the first one's rules, so every date-time is bound again here to the
zone its own calendar denotes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from icalendar.timezone import tzp
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from gateway.logs import event, get_logger

log = get_logger("lifecycle")

# UTC-12 is the westernmost offset in use, so a wall-clock time without a
# zone happens no later than this long after the same wall time in UTC.
LATEST_UTC_OFFSET = timedelta(hours=12)

# Upper bound on the VTIMEZONE definitions kept built. Calendars usually
# reuse a handful of distinct ones, so the cache is simply emptied when full.
MAX_CACHED_ZONES = 256
_DEFINED_ZONES: dict[bytes, tzinfo] = {}

# The VEVENT properties whose values can carry a TZID and matter for an end.
DATE_PROPERTIES = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE")


def parse_calendar(text: str) -> icalendar.Calendar:
    """Parse calendar text and bind every TZID of its VEVENTs to the zone this calendar defines.

    Raises ValueError when the text is not iCalendar.
    """
    calendar = icalendar.Calendar.from_ical(text)
    zones = own_zones(calendar)
    for component in calendar.walk("VEVENT"):
        _rebind_zones(component, zones)
    return calendar


def own_zones(calendar: icalendar.Calendar) -> dict[str, tzinfo]:
    """Build a zone from each VTIMEZONE of ``calendar``, keyed by its TZID."""
    zones: dict[str, tzinfo] = {}
    for definition in calendar.walk("VTIMEZONE"):
        if not isinstance(definition, icalendar.Timezone) or "TZID" not in definition:
            continue
        tzid = str(definition["TZID"])
        try:
            zones[tzid] = _zone_from_definition(definition)
        except (ValueError, KeyError, TypeError, IndexError) as error:
            # The TZID is then read as a zone name, like one without a VTIMEZONE.
            event(log, logging.DEBUG, "vtimezone-unreadable", tzid=tzid, error=str(error))
    return zones


def _zone_from_definition(definition: icalendar.Timezone) -> tzinfo:
    """Build the zone a VTIMEZONE defines, reusing the one built earlier from the same text.

    The cache is keyed by the whole definition, not by TZID, so it cannot
    mix up two definitions that share a TZID. Reuse matters for speed: the
    zones built from a VTIMEZONE cache their computed transitions.
    """
    text = definition.to_ical()
    zone = _DEFINED_ZONES.get(text)
    if zone is None:
        if len(_DEFINED_ZONES) >= MAX_CACHED_ZONES:
            _DEFINED_ZONES.clear()
        zone = definition.to_tz(tzp, lookup_tzid=False)
        _DEFINED_ZONES[text] = zone
    return zone


def zone_for_tzid(tzid: str, zones: Mapping[str, tzinfo]) -> tzinfo | None:
    """Return the zone a TZID denotes, or None when it denotes none (the time is then floating).

    The calendar's own VTIMEZONE in ``zones`` comes first. Then the TZID is
    tried as an IANA name, and as a Windows zone name through the CLDR
    windowsZones table that icalendar ships. Last, a "globally unique" TZID
    such as ``/example.org/Tzfile/Europe/Berlin`` (RFC 5545, section 3.2.19)
    is tried by the IANA name at its end.
    """
    if tzid in zones:
        return zones[tzid]
    cleaned = tzid.strip("/")
    candidates = [cleaned, WINDOWS_TO_OLSON.get(cleaned, "")]
    if tzid.startswith("/"):
        parts = cleaned.split("/")
        candidates.extend("/".join(parts[index:]) for index in range(1, len(parts)))
    for name in candidates:
        zone = _iana_zone(name)
        if zone is not None:
            return zone
    return None


def _iana_zone(name: str) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _rebind_zones(component: icalendar.Component, zones: Mapping[str, tzinfo]) -> None:
    for name in DATE_PROPERTIES:
        values = component.get(name)
        if values is None:
            continue
        # A property that occurs on several lines (EXDATE, RDATE) comes as a list.
        for prop in values if isinstance(values, list) else [values]:
            tzid = prop.params.get("TZID")
            if not tzid:
                continue
            zone = zone_for_tzid(str(tzid), zones)
            for item in prop.dts if hasattr(prop, "dts") else [prop]:
                item.dt = _with_zone(item.dt, zone)


def _with_zone(value: Any, zone: tzinfo | None) -> Any:
    """Give a parsed value the zone its TZID denotes, keeping its wall-clock time."""
    if isinstance(value, tuple):
        # An RDATE period: a start and an end or a duration.
        return tuple(_with_zone(part, zone) for part in value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone)
    return value


def latest_instant(value: date | datetime) -> datetime:
    """Return the UTC instant of a date or date-time. Without a zone, return the latest instant it can mean."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=timezone.utc) + LATEST_UTC_OFFSET
    return value.astimezone(timezone.utc)


def recurrence_id_of(component: icalendar.Component) -> date | datetime:
    """Return the RECURRENCE-ID value of ``component``. Raises ValueError when it is not a date or date-time."""
    value = getattr(component["RECURRENCE-ID"], "dt", None)
    if not isinstance(value, date):
        raise ValueError(f"RECURRENCE-ID {value!r} is not a date or date-time")
    return value


def recurrence_key(value: date | datetime) -> date | datetime:
    """Return a RECURRENCE-ID value in a form that compares equal across zone objects."""
    if isinstance(value, datetime) and value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(timezone.utc)
    return value
