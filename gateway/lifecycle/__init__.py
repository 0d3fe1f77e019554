"""Lifecycle of dynamic UPNs: when their events end, and the sweep that revokes idle ones.

``event_end`` computes when one recorded event ends, ``upn_status`` judges a
UPN by its events, and ``sweep`` (run by the ``sweep`` command, and on a
schedule by ``run_sweeper`` inside ``serve``) revokes idle UPNs under
``[lifecycle] policy = expire``.
"""

from gateway.lifecycle.event_end import MAX_OCCURRENCES, EventEnd, event_end
from gateway.lifecycle.sweep import (
    SWEPT_STATES,
    SweepAction,
    UpnStatus,
    revocation_reason,
    run_sweeper,
    sweep,
    upn_status,
)
from gateway.lifecycle.zones import latest_instant, parse_calendar, zone_for_tzid

__all__ = [
    "MAX_OCCURRENCES",
    "SWEPT_STATES",
    "EventEnd",
    "SweepAction",
    "UpnStatus",
    "event_end",
    "latest_instant",
    "parse_calendar",
    "revocation_reason",
    "run_sweeper",
    "sweep",
    "upn_status",
    "zone_for_tzid",
]
