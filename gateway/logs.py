"""Logging: one line per event, logfmt by default or JSON.

Loggers are named by concern under ``imip_gateway`` (``smtp``, ``pipeline``,
``delivery``, ``imap``, ``web``, ``keys``, ``lifecycle``). Structured fields
travel in the record's ``fields`` attribute, set through ``event()``. No
caller passes a secret or a message body: the fields are ids, addresses,
outcomes and reasons.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

ROOT = "imip_gateway"


def get_logger(concern: str) -> logging.Logger:
    return logging.getLogger(f"{ROOT}.{concern}")


def event(logger: logging.Logger, level: int, name: str, **fields: Any) -> None:
    """Log one event with its fields; a None field is left out."""
    clean = {key: value for key, value in fields.items() if value is not None}
    logger.log(level, name, extra={"fields": clean})


def _logfmt_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    if text == "" or any(ch in text for ch in ' ="\\') or any(ord(ch) < 32 for ch in text):
        return json.dumps(text, ensure_ascii=False)
    return text


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        pairs = [
            ("ts", _timestamp(record)),
            ("level", record.levelname.lower()),
            ("logger", record.name.removeprefix(ROOT + ".")),
            ("event", record.getMessage()),
        ]
        pairs.extend(getattr(record, "fields", {}).items())
        if record.exc_info:
            pairs.append(("exception", self.formatException(record.exc_info)))
        return " ".join(f"{key}={_logfmt_value(value)}" for key, value in pairs)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name.removeprefix(ROOT + "."),
            "event": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure(log_format: str = "logfmt", level: str = "info", stream: TextIO | None = None) -> None:
    """Send the gateway's loggers to ``stream`` (standard error by default) in one format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else LogfmtFormatter())
    root = logging.getLogger(ROOT)
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
