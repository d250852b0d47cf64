"""Every setting of the dashboard, read from the environment by one pydantic-settings class.

Firestore and Firebase credentials are the library's own variables
(``FIREBASE_PROJECT_ID``, ``FIRESTORE_EMULATOR_HOST``, ``FIREBASE_AUTH_EMULATOR_HOST``,
``GOOGLE_APPLICATION_CREDENTIALS`` ...), read by ``firestore_verify.connect``.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DashboardSettings"]


class DashboardSettings(BaseSettings):
    """The dashboard's settings; each field is the environment variable ``FSV_DASHBOARD_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="FSV_DASHBOARD_", extra="ignore", frozen=True)

    #: Interface uvicorn listens on.
    host: str = "127.0.0.1"
    #: Port uvicorn listens on.
    port: int = Field(default=8001, ge=0, le=65535)
    #: Collection prefix of the store (same as the bot's ``FSV_COLLECTION_PREFIX``).
    collection_prefix: str = ""
    #: Firestore database id.
    database: str = "(default)"
    #: The Firebase project's Web API key, for email/password sign-in (not needed on the
    #: Auth emulator).
    firebase_api_key: str | None = None
    #: How long a session cookie lives, in hours (Firebase allows 5 minutes to 14 days).
    session_hours: int = Field(default=120, ge=1, le=336)
    #: Send cookies with ``Secure`` (turn off only for plain-HTTP development).
    cookie_secure: bool = True
    #: Trust ``X-Forwarded-For`` for the client IP (only behind a proxy you run).
    trust_forwarded: bool = False
    #: Log level of the JSON logs.
    log_level: str = "INFO"
    #: Longest time an SSE stream stays open before the browser reconnects (s).
    stream_max_seconds: float = Field(default=3600.0, gt=0)
    #: Rows per page of the tables.
    page_size: int = Field(default=25, ge=1, le=200)
