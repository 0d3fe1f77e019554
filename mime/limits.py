"""Limits on how much of a message the reader will walk."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds checked while reading a message; exceeding one raises ``LimitExceeded``.

    The gateway builds this from the ``[limits]`` settings section.
    """

    mime_depth: int = 20
    mime_parts: int = 200
    calendar_components: int = 500
