"""Every setting of the API, read from the environment by one `fv.EnvSettings` class.

Firestore and Firebase credentials are the library's own variables
(``FIREBASE_PROJECT_ID``, ``FIRESTORE_EMULATOR_HOST``, ``FIREBASE_AUTH_EMULATOR_HOST``,
``GOOGLE_APPLICATION_CREDENTIALS`` ...), read by ``firestore_verify.connect``.
"""

from __future__ import annotations

from pydantic import Field

import firestore_verify as fv

__all__ = ["ApiSettings"]


class ApiSettings(fv.EnvSettings):
    """The API's settings; each field is the environment variable ``FSV_API_<NAME>``."""

    model_config = fv.EnvSettings.config(env_prefix="FSV_API_")

    host: str = "127.0.0.1"
    """Interface uvicorn listens on."""
    port: int = Field(default=8000, ge=0, le=65535)
    """Port uvicorn listens on."""
    collection_prefix: str = ""
    """Collection prefix of the store (same as the bot's ``FSV_COLLECTION_PREFIX``)."""
    database: str = "(default)"
    """Firestore database id."""
    cors_origins: list[str] = Field(default_factory=list)
    """Origins allowed by CORS (exact matches, e.g. ``https://admin.example.org``); none by
    default."""
    session_hours: int = Field(default=120, ge=1, le=336)
    """How long a session cookie lives, in hours (Firebase allows 5 minutes to 14 days)."""
    cookie_secure: bool = True
    """Send cookies with ``Secure`` (turn off only for plain-HTTP development)."""
    signin_rate: str = "5/15minutes"
    """Sign-ins allowed per client IP (``limits`` notation)."""
    write_rate: str = "50/minute"
    """Writes allowed per admin."""
    read_rate: str = "200/minute"
    """Reads allowed per admin."""
    redis_url: str | None = None
    """``redis://host:port/db`` to share rate-limit counters between API processes."""
    trust_forwarded: bool = False
    """Trust ``X-Forwarded-For`` for the client IP (only behind a proxy you run)."""
    log_level: str = "INFO"
    """Log level of the JSON logs."""
    stream_max_seconds: float = Field(default=3600.0, gt=0)
    """Longest time an SSE stream stays open before the browser is told to reconnect (s)."""
