"""Structured JSON logs: the library's formatter, one object per line.

Pass the ids as ``extra``; they become top-level keys::

    log.info("user muted", extra={"user_id": 7, "group_id": -100123})
"""

from __future__ import annotations

from firestore_verify import JsonFormatter
from firestore_verify import setup_json_logging as setup_logging

__all__ = ["JsonFormatter", "setup_logging"]
