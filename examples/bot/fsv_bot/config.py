"""Settings from the environment, with one clear error listing everything that is wrong.

Firestore itself is configured the library's way (``FIREBASE_PROJECT_ID``,
``FIREBASE_CLIENT_EMAIL`` / ``FIREBASE_PRIVATE_KEY``, ``GOOGLE_APPLICATION_CREDENTIALS``
or ``FIRESTORE_EMULATOR_HOST``): ``fv.connect(env=...)`` reads those and explains
what is missing. The membership cache reads ``FV_CACHE_*`` (``fv.CacheSettings.from_env``),
and is shared by every bot process through Redis when ``FSV_REDIS_URL`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator
from typing_extensions import Self

import firestore_verify as fv

__all__ = ["ConfigError", "Settings"]

Mode = Literal["polling", "webhook"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
_OFF = ("off", "none", "disabled")


class ConfigError(fv.ConfigurationError):
    """The environment does not describe a runnable bot; ``problems`` says why, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid bot configuration:\n" + "\n".join(f"  - {p}" for p in problems),
                         problems=problems)


class Settings(fv.EnvSettings):
    """Everything the bot needs to start. Build it with `from_env`.

    Each field is the environment variable ``FSV_<NAME>`` unless named otherwise
    (``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_API_BASE_URL``, ``FIRESTORE_DATABASE``,
    ``FSV_COLLECTION_PREFIX``); the cache reads ``FV_CACHE_*`` (`fv.CacheSettings`).
    """

    model_config = fv.EnvSettings.config(env_prefix="FSV_")

    token: str = Field(default="", validation_alias="TELEGRAM_BOT_TOKEN", validate_default=True,
                       repr=False)
    """The bot's token from @BotFather (``<digits>:<secret>``)."""
    mode: Mode = "polling"
    """``polling`` (default) or ``webhook``."""
    api_base_url: str = Field(default="https://api.telegram.org/bot",
                              validation_alias="TELEGRAM_API_BASE_URL")
    """Bot API server; tests and the simulator point it at a local one."""
    poll_timeout: int = Field(default=30, ge=0, le=50)
    """Long-polling timeout (seconds) for ``getUpdates``."""
    webhook_url: str | None = Field(default=None, validate_default=True)
    """The public ``https://`` URL Telegram posts updates to (required for webhooks)."""
    webhook_listen: str = "0.0.0.0"
    """Interface the webhook server listens on."""
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    """Port the webhook server listens on."""
    webhook_secret: str | None = Field(default=None, repr=False)
    """Secret Telegram sends in ``X-Telegram-Bot-Api-Secret-Token``."""
    metrics_host: str = "127.0.0.1"
    """Interface of the ``/metrics`` and ``/health`` server."""
    metrics_port: int | None = Field(default=9090, ge=0, le=65535)
    """Port of ``/metrics`` and ``/health``; ``0`` picks a free one, ``off`` disables it."""
    log_level: LogLevel = "INFO"
    """Level of the JSON logs."""
    concurrency: int = Field(default=64, ge=1, le=1024)
    """Updates handled at once (PTB ``concurrent_updates``)."""
    database: str = Field(default="(default)", validation_alias="FIRESTORE_DATABASE")
    """Firestore database id (``fv.connect``)."""
    prefix: str = Field(default="", validation_alias="FSV_COLLECTION_PREFIX")
    """Collection prefix (``fv.connect``)."""
    event_shards: int = Field(default=1, ge=1, le=1000)
    """Counter shards the verification logger spreads its commits over."""
    event_spool: str | None = None
    """File the logger spools accepted events to until Firestore has them, so a crash
    (SIGKILL, OOM) loses none: replayed on the next start. Unset: memory only."""
    event_leases: bool = False
    """Share the ``event_shards`` with the other bot processes through leases in
    Firestore (one writer per hot document, whatever the number of processes)."""
    lease_seconds: int = Field(default=30, ge=3, le=600)
    """Seconds a shard lease lasts without renewal (a crashed process's shards are
    taken over after it)."""
    event_cache_hits: fv.CacheHitPolicy = "every"
    """What a cache hit becomes in the event log: ``every`` hit an event, ``fold``
    (one event per user, group, channel and minute) or ``sample``."""
    event_retention_days: int | None = Field(default=None, ge=1, le=36_500)
    """Days each verification event is kept (``expires_at`` for a TTL policy); unset:
    kept for good."""
    redis_url: str | None = Field(default=None, repr=False)  # it may carry a password
    """Redis holding the membership cache for every bot process (``redis://host:6379/0``);
    unset: each process keeps its own cache in memory."""
    cache: fv.CacheSettings = Field(default_factory=fv.CacheSettings, exclude=True)
    """The membership cache's TTLs and size, read from ``FV_CACHE_*``."""
    _env: Mapping[str, str] = PrivateAttr(default_factory=dict)

    @property
    def env(self) -> Mapping[str, str]:
        """The environment Firestore settings are read from (``fv.connect(env=...)``)."""
        return self._env

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **values: Any) -> Self:
        """Read the settings; raise `ConfigError` naming every problem at once.

        ``values`` win over the environment (``Settings.from_env(mode="webhook")``).
        """
        env = dict(os.environ if env is None else env)
        problems: list[str] = []
        cache = fv.CacheSettings()
        try:
            cache = fv.CacheSettings.from_env(env)
        except fv.ConfigurationError as exc:
            problems += exc.problems
        try:
            settings = super().from_env(env, **{"cache": cache, **values})
        except fv.ConfigurationError as exc:
            raise ConfigError(exc.problems + problems) from None
        if problems:
            raise ConfigError(problems)
        settings._env = env
        return settings

    @field_validator("token")
    @classmethod
    def _a_token(cls, token: str) -> str:
        if not token:
            raise ValueError("is not set: ask @BotFather for a token")
        if ":" not in token or not token.split(":", 1)[0].isdigit():
            raise ValueError("does not look like a token (<digits>:<secret>)")
        return token

    @field_validator("mode", "event_cache_hits", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() in _OFF else value

    @field_validator("webhook_url")
    @classmethod
    def _public_https(cls, url: str | None, info: ValidationInfo) -> str | None:
        if url is None and info.data.get("mode") == "webhook":
            raise ValueError("is required when FSV_MODE=webhook (the public https:// URL)")
        if url is not None and not url.startswith("https://"):
            raise ValueError(f"must start with https://, got {url!r}")
        return url

    @field_validator("redis_url")
    @classmethod
    def _a_redis_url(cls, url: str | None) -> str | None:
        if url is not None and not url.lower().startswith(_REDIS_SCHEMES):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return url
