"""Every setting of the dashboard, read from the environment by one `fv.EnvSettings` class.

Firestore and Firebase credentials are the library's own variables
(``FIREBASE_PROJECT_ID``, ``FIRESTORE_EMULATOR_HOST``, ``FIREBASE_AUTH_EMULATOR_HOST``,
``GOOGLE_APPLICATION_CREDENTIALS`` ...), read by ``firestore_verify.connect``.
"""

from __future__ import annotations

from pydantic import Field

import firestore_verify as fv

__all__ = ["DashboardSettings"]


class DashboardSettings(fv.EnvSettings):
    """The dashboard's settings; each field is the environment variable ``FSV_DASHBOARD_<NAME>``."""

    model_config = fv.EnvSettings.config(env_prefix="FSV_DASHBOARD_")

    host: str = "127.0.0.1"
    """Interface uvicorn listens on."""
    port: int = Field(default=8001, ge=0, le=65535)
    """Port uvicorn listens on."""
    collection_prefix: str = ""
    """Collection prefix of the store (same as the bot's ``FSV_COLLECTION_PREFIX``)."""
    database: str = "(default)"
    """Firestore database id."""
    firebase_api_key: str | None = None
    """The Firebase project's Web API key, for email/password sign-in (not needed on the Auth
    emulator)."""
    session_hours: int = Field(default=120, ge=1, le=336)
    """How long a session cookie lives, in hours (Firebase allows 5 minutes to 14 days)."""
    cookie_secure: bool = True
    """Send cookies with ``Secure`` (turn off only for plain-HTTP development)."""
    trust_forwarded: bool = False
    """Trust ``X-Forwarded-For`` for the client IP (only behind a proxy you run)."""
    log_level: str = "INFO"
    """Log level of the JSON logs."""
    stream_max_seconds: float = Field(default=3600.0, gt=0)
    """Longest time an SSE stream stays open before the browser reconnects (s)."""
    page_size: int = Field(default=25, ge=1, le=200)
    """Rows per page of the tables."""
