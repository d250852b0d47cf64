"""Turn legacy SQL values into the Python values the models expect.

SQLite and PostgreSQL hand back the same column in different shapes: booleans
as ``0``/``1`` or ``True``, timestamps as text or ``datetime`` (naive or
aware), JSON as text or already parsed, UUIDs as text or ``uuid.UUID``. Every
function here accepts all of them and raises `BadValue` with a short
reason for anything else.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any

from firestore_verify.models._base import check_storable as models_check_storable

__all__ = [
    "BadValue",
    "check_storable",
    "to_bool",
    "to_datetime",
    "to_json",
    "to_text",
    "to_uuid",
]

_SHORT_OFFSET = re.compile(r"(:\d{2}(?:\.\d+)?[+-]\d{2})$")
_FRACTION = re.compile(r"\.(\d+)")
_TRUE = {"1", "t", "true", "y", "yes", "on"}
_FALSE = {"0", "f", "false", "n", "no", "off"}
#: Firestore refuses documents over 1 MiB; stay well below it.
MAX_DOCUMENT_BYTES = 1_000_000


class BadValue(ValueError):
    """A legacy value that cannot become a valid Firestore value; the message says why."""


def to_datetime(value: Any, column: str) -> datetime | None:
    """A timezone-aware UTC datetime from a datetime, ISO text or epoch seconds.

    Naive values are taken as UTC (SQLAlchemy stored ``datetime.utcnow()``).
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            moment = datetime.fromtimestamp(float(value), tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise BadValue(f"{column}: {value!r} is not a valid epoch timestamp") from None
    elif isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        text = _SHORT_OFFSET.sub(r"\1:00", text)
        # Python 3.10 accepts only 3 or 6 digits of fraction; PostgreSQL prints 1 to 6.
        text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise BadValue(f"{column}: {value!r} is not a timestamp") from None
    else:
        raise BadValue(f"{column}: {type(value).__name__} is not a timestamp")
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def to_bool(value: Any, column: str, default: bool) -> bool:
    """A boolean from ``bool``, ``0``/``1`` or text such as ``'t'``/``'false'``."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise BadValue(f"{column}: {value!r} is not a boolean")


def to_json(value: Any, column: str) -> Any:
    """The JSON value of a column: parsed already (PostgreSQL ``json``) or text to parse."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise BadValue(f"{column}: invalid JSON ({exc.msg} at char {exc.pos})") from None
        except RecursionError:
            raise BadValue(f"{column}: JSON nested too deeply to store") from None
    return value


def to_uuid(value: Any, column: str) -> str:
    """A UUID in its canonical text form (``8-4-4-4-12`` lowercase hex)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray)) and len(value) == 16:
        return str(uuid.UUID(bytes=bytes(value)))
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            pass
    raise BadValue(f"{column}: {value!r} is not a UUID")


def to_text(value: Any) -> str | None:
    """Text with surrounding blanks removed; ``None`` and blank text become ``None``."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def check_storable(value: Any, column: str) -> None:
    """Raise `BadValue` unless Firestore can store ``value`` (from JSON).

    Firestore has no arrays of arrays, only 64-bit integers, UTF-8 text, no
    reserved map keys (``__name__``) and documents of at most 1 MiB.
    """
    try:
        models_check_storable(value, column)
    except ValueError as exc:
        raise BadValue(str(exc)) from None
    try:
        size = len(json.dumps(value, default=str))
    except (TypeError, ValueError) as exc:
        raise BadValue(f"{column}: not JSON-like ({exc})") from None
    if size > MAX_DOCUMENT_BYTES:
        raise BadValue(f"{column}: {size} bytes as JSON, over Firestore's 1 MiB document limit")
