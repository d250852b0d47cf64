"""Structured JSON logs for apps built on the library: one object per line.

Pass ids as ``extra``; they become top-level keys::

    log.info("user muted", extra={"user_id": 7, "group_id": -100123})

Every ``extra`` key is kept (the standard ``LogRecord`` attributes are not
repeated), so the bot, the admin API and the dashboard log the same shape.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

__all__ = ["JsonFormatter", "setup_json_logging"]

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}
"""Attributes every LogRecord has: not copied as ``extra`` fields."""


class JsonFormatter(logging.Formatter):
    """Formats a record as a JSON object: time, level, logger, message and every ``extra``."""

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
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_") and value is not None:
                line[name] = round(value, 2) if isinstance(value, float) else value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup_json_logging(level: str = "INFO", stream: TextIO | None = None,
                       *, quiet: tuple[str, ...] = ("httpx",)) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) as JSON; returns the handler installed.

    The loggers in ``quiet`` (``httpx`` logs every request at INFO) are kept at WARNING.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
