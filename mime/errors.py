"""Exceptions raised by the mime package; ``MimeError`` is their base.

The reader raises nothing else on any input, so a caller that catches
``MimeError`` has handled every way a mail can be unreadable. The whole
project's exception tree is documented in ``gateway/errors.py``.
"""

from __future__ import annotations


class MimeError(Exception):
    """Base of every error the mime package raises on bad input or a limit."""


class LimitExceeded(MimeError):
    """A message exceeds one of the configured ``Limits``."""

    def __init__(self, limit: str, value: int) -> None:
        super().__init__(f"message exceeds the limit {limit} = {value}")
        self.limit = limit
        self.value = value


class MalformedMessage(MimeError):
    """The MIME structure or a header cannot be read."""


class NotCalendar(MimeError):
    """Data that should contain an iCalendar component contains none."""


class MalformedCalendar(MimeError):
    """An iCalendar object is present but its structure cannot be read."""


class AmbiguousLine(MalformedCalendar):
    """A content line cannot be edited safely because its parameters are ambiguous."""


class InvalidValue(MimeError):
    """A value given to a builder or rewriter would produce invalid output."""
