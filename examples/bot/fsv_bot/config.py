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
from dataclasses import dataclass, field
from typing import Literal

import firestore_verify as fv

__all__ = ["ConfigError", "Settings"]

Mode = Literal["polling", "webhook"]
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: The values FSV_EVENT_CACHE_HITS takes.
_CACHE_HITS: dict[str, fv.CacheHitPolicy] = {"every": "every", "fold": "fold",
                                             "sample": "sample"}
#: How FSV_EVENT_LEASES may be written.
_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True,
             "0": False, "false": False, "no": False, "off": False}
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class ConfigError(Exception):
    """The environment does not describe a runnable bot; ``problems`` says why, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid bot configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    """Everything the bot needs to start. Build it with :meth:`from_env`."""

    token: str
    #: ``polling`` (default) or ``webhook``.
    mode: Mode = "polling"
    #: Bot API server; tests and the simulator point it at a local one.
    api_base_url: str = "https://api.telegram.org/bot"
    #: Long-polling timeout (seconds) for ``getUpdates``.
    poll_timeout: int = 30
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: str | None = None
    #: ``/metrics`` and ``/health``; port ``0`` picks a free one, ``None`` disables the server.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 9090
    log_level: str = "INFO"
    #: Updates handled at once (PTB ``concurrent_updates``).
    concurrency: int = 64
    #: Firestore database id and collection prefix (``fv.connect``).
    database: str = "(default)"
    prefix: str = ""
    #: Counter shards the verification logger spreads its commits over.
    event_shards: int = 1
    #: File the logger spools accepted events to until Firestore has them, so a crash
    #: (SIGKILL, OOM) loses none: replayed on the next start. ``None``: memory only.
    event_spool: str | None = None
    #: Share the ``event_shards`` with the other bot processes through leases in
    #: Firestore (one writer per hot document, whatever the number of processes).
    event_leases: bool = False
    #: Seconds a shard lease lasts without renewal (a crashed process's shards are
    #: taken over after it).
    lease_seconds: int = 30
    #: What a cache hit becomes in the event log: ``every`` hit an event, ``fold``
    #: (one event per user, group, channel and minute) or ``sample``.
    event_cache_hits: fv.CacheHitPolicy = "every"
    #: Days each verification event is kept (``expires_at`` for a TTL policy); ``None``:
    #: kept for good.
    event_retention_days: int | None = None
    cache: fv.CacheSettings = field(default_factory=fv.CacheSettings)
    #: Redis holding the membership cache for every bot process (``redis://host:6379/0``);
    #: ``None``: each process keeps its own cache in memory.
    redis_url: str | None = field(default=None, repr=False)  # it may carry a password
    #: The environment Firestore settings are read from (``fv.connect(env=...)``).
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; raise :class:`ConfigError` naming every problem at once.

        Variables: ``TELEGRAM_BOT_TOKEN`` (required), ``TELEGRAM_API_BASE_URL``,
        ``FSV_MODE`` (``polling``/``webhook``), ``FSV_POLL_TIMEOUT``,
        ``FSV_WEBHOOK_URL`` (required for webhooks, ``https://``),
        ``FSV_WEBHOOK_LISTEN``, ``FSV_WEBHOOK_PORT``, ``FSV_WEBHOOK_SECRET``,
        ``FSV_METRICS_HOST``, ``FSV_METRICS_PORT`` (``off`` disables), ``FSV_LOG_LEVEL``,
        ``FSV_CONCURRENCY``, ``FIRESTORE_DATABASE``, ``FSV_COLLECTION_PREFIX``,
        ``FSV_EVENT_SHARDS``, ``FSV_EVENT_SPOOL``, ``FSV_EVENT_LEASES`` (``1``/``0``),
        ``FSV_LEASE_SECONDS``, ``FSV_EVENT_CACHE_HITS`` (``every``/``fold``/``sample``),
        ``FSV_EVENT_RETENTION_DAYS``,
        ``FSV_REDIS_URL`` (``redis://``,
        ``rediss://`` or ``unix://``) and the cache's ``FV_CACHE_*``.
        """
        env = dict(os.environ if env is None else env)
        problems: list[str] = []

        def text(name: str, default: str | None = None) -> str | None:
            value = env.get(name, "").strip()
            return value or default

        def number(name: str, default: int, low: int, high: int) -> int:
            raw = text(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"{name} must be an integer, got {raw!r}")
                return default
            if not low <= value <= high:
                problems.append(f"{name} must be between {low} and {high}, got {value}")
            return value

        token = text("TELEGRAM_BOT_TOKEN")
        if token is None:
            problems.append("TELEGRAM_BOT_TOKEN is not set: ask @BotFather for a token")
        elif ":" not in token or not token.split(":", 1)[0].isdigit():
            problems.append("TELEGRAM_BOT_TOKEN does not look like a token (<digits>:<secret>)")

        mode = (text("FSV_MODE", "polling") or "polling").lower()
        if mode not in ("polling", "webhook"):
            problems.append(f"FSV_MODE must be 'polling' or 'webhook', got {mode!r}")
        webhook_url = text("FSV_WEBHOOK_URL")
        if mode == "webhook" and webhook_url is None:
            problems.append("FSV_MODE=webhook needs FSV_WEBHOOK_URL (the public https:// URL)")
        if webhook_url is not None and not webhook_url.startswith("https://"):
            problems.append(f"FSV_WEBHOOK_URL must start with https://, got {webhook_url!r}")

        metrics_raw = (text("FSV_METRICS_PORT", "9090") or "9090").lower()
        metrics_port: int | None = None
        if metrics_raw not in ("off", "none", "disabled"):
            metrics_port = number("FSV_METRICS_PORT", 9090, 0, 65535)

        level = (text("FSV_LOG_LEVEL", "INFO") or "INFO").upper()
        if level not in _LEVELS:
            problems.append(f"FSV_LOG_LEVEL must be one of {', '.join(_LEVELS)}, got {level!r}")

        try:
            cache = fv.CacheSettings.from_env(env)
        except fv.ConfigurationError as exc:
            problems.append(str(exc))
            cache = fv.CacheSettings()

        leases_raw = (text("FSV_EVENT_LEASES", "0") or "0").lower()
        if leases_raw not in _BOOLEANS:
            problems.append(f"FSV_EVENT_LEASES must be 1 or 0 (true/false), got {leases_raw!r}")

        cache_hits = (text("FSV_EVENT_CACHE_HITS", "every") or "every").lower()
        if cache_hits not in _CACHE_HITS:
            problems.append("FSV_EVENT_CACHE_HITS must be every, fold or sample, "
                            f"got {cache_hits!r}")

        redis_url = text("FSV_REDIS_URL")
        if redis_url is not None and not redis_url.lower().startswith(_REDIS_SCHEMES):
            problems.append("FSV_REDIS_URL must start with redis://, rediss:// or unix://")

        settings = cls(
            token=token or "",
            mode="webhook" if mode == "webhook" else "polling",
            api_base_url=text("TELEGRAM_API_BASE_URL", cls.api_base_url) or cls.api_base_url,
            poll_timeout=number("FSV_POLL_TIMEOUT", 30, 0, 50),
            webhook_url=webhook_url,
            webhook_listen=text("FSV_WEBHOOK_LISTEN", cls.webhook_listen) or cls.webhook_listen,
            webhook_port=number("FSV_WEBHOOK_PORT", 8443, 1, 65535),
            webhook_secret=text("FSV_WEBHOOK_SECRET"),
            metrics_host=text("FSV_METRICS_HOST", cls.metrics_host) or cls.metrics_host,
            metrics_port=metrics_port,
            log_level=level,
            concurrency=number("FSV_CONCURRENCY", 64, 1, 1024),
            database=text("FIRESTORE_DATABASE", "(default)") or "(default)",
            prefix=text("FSV_COLLECTION_PREFIX", "") or "",
            event_shards=number("FSV_EVENT_SHARDS", 1, 1, 1000),
            event_spool=text("FSV_EVENT_SPOOL"),
            event_leases=_BOOLEANS.get(leases_raw, False),
            lease_seconds=number("FSV_LEASE_SECONDS", 30, 3, 600),
            event_cache_hits=_CACHE_HITS.get(cache_hits, "every"),
            event_retention_days=(number("FSV_EVENT_RETENTION_DAYS", 0, 1, 36_500)
                                  if text("FSV_EVENT_RETENTION_DAYS") else None),
            cache=cache,
            redis_url=redis_url,
            env=env,
        )
        if problems:
            raise ConfigError(problems)
        return settings
