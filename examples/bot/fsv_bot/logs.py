"""Structured JSON logs: one object per line, with the ids every log search needs.

Pass the ids as ``extra``; they become top-level keys::

    log.info("user muted", extra={"user_id": 7, "group_id": -100123})
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

__all__ = ["FIELDS", "JsonFormatter", "setup_logging"]

#: ``extra`` keys copied into every line that carries them.
FIELDS = (
    "user_id",
    "group_id",
    "channel_id",
    "latency_ms",
    "status",
    "cached",
    "error_type",
    "method",
    "attempt",
    "retry_after",
    "command",
)


class JsonFormatter(logging.Formatter):
    """Formats a record as a JSON object: time, level, logger, message and :data:`FIELDS`."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = round(value, 2) if isinstance(value, float) else value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup_logging(level: str = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) as JSON; returns the handler installed.

    ``httpx`` (which logs every Bot API request at INFO) is kept at WARNING.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return handler
