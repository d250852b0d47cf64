"""Every setting of the API, read from the environment by one pydantic-settings class.

Firestore and Firebase credentials are the library's own variables
(``FIREBASE_PROJECT_ID``, ``FIRESTORE_EMULATOR_HOST``, ``FIREBASE_AUTH_EMULATOR_HOST``,
``GOOGLE_APPLICATION_CREDENTIALS`` ...), read by ``firestore_verify.connect``.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ApiSettings"]


class ApiSettings(BaseSettings):
    """The API's settings; each field is the environment variable ``FSV_API_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="FSV_API_", extra="ignore", frozen=True)

    #: Interface uvicorn listens on.
    host: str = "127.0.0.1"
    #: Port uvicorn listens on.
    port: int = Field(default=8000, ge=0, le=65535)
    #: Collection prefix of the store (same as the bot's ``FSV_COLLECTION_PREFIX``).
    collection_prefix: str = ""
    #: Firestore database id.
    database: str = "(default)"
    #: Origins allowed by CORS (exact matches, e.g. ``https://admin.example.org``); none by default.
    cors_origins: list[str] = Field(default_factory=list)
    #: How long a session cookie lives, in hours (Firebase allows 5 minutes to 14 days).
    session_hours: int = Field(default=120, ge=1, le=336)
    #: Send cookies with ``Secure`` (turn off only for plain-HTTP development).
    cookie_secure: bool = True
    #: Sign-ins allowed per client IP (``limits`` notation).
    signin_rate: str = "5/15minutes"
    #: Writes allowed per admin.
    write_rate: str = "50/minute"
    #: Reads allowed per admin.
    read_rate: str = "200/minute"
    #: ``redis://host:port/db`` to share rate-limit counters between API processes.
    redis_url: str | None = None
    #: Trust ``X-Forwarded-For`` for the client IP (only behind a proxy you run).
    trust_forwarded: bool = False
    #: Log level of the JSON logs.
    log_level: str = "INFO"
    #: Longest time an SSE stream stays open before the browser is told to reconnect (s).
    stream_max_seconds: float = Field(default=3600.0, gt=0)
