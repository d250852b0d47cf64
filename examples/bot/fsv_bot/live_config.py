"""The dashboard's runtime config, applied while the bot runs.

The library types, validates and audits the settings (``fv.BotConfigRepository``);
this module watches them and applies what a running bot can change without a
restart:

* the membership cache's TTLs, jitter and size: the cache is emptied when they
  change, so the new TTLs hold for every answer at once (the refill costs one
  ``getChatMember`` per user and channel that speaks again, spread over time);
* the default warning template (groups with their own ``params.warning_template``
  keep theirs) and the "verified" answer;
* a pace for moderation calls (``rate_limits.moderation_per_second``);
* the log level.

Settings nobody stored yet leave the bot's own (the environment's ``FV_CACHE_*``,
``FSV_LOG_LEVEL``) in place. The webhook secret is read once, at start.
"""

from __future__ import annotations

import logging

import anyio
from anyio.abc import TaskStatus

import firestore_verify as fv
from fsv_bot.config import Settings

__all__ = ["LiveConfig", "Pacer"]

log = logging.getLogger("fsv_bot.live_config")


class Pacer:
    """Spaces calls ``1 / rate`` seconds apart; no waiting while ``rate`` is ``None``."""

    def __init__(self) -> None:
        #: Calls per second, or ``None`` for no limit.
        self.rate: float | None = None
        self._next = 0.0

    async def wait(self) -> None:
        """Wait for this call's slot (slots are handed out in call order)."""
        if self.rate is None:
            return
        now = anyio.current_time()
        slot = max(now, self._next)
        self._next = slot + 1 / self.rate
        if slot > now:
            await anyio.sleep(slot - now)


class LiveConfig:
    """The current ``fv.BotConfig`` and the parts of the bot it steers."""

    def __init__(self, settings: Settings, cache: fv.MembershipCache) -> None:
        self.settings = settings
        self.cache = cache
        #: The cache settings the bot started with; stored keys override them.
        self.base_cache = cache.settings
        #: The config applied last (defaults until the first snapshot).
        self.current = fv.BotConfig()
        #: Paces moderation calls.
        self.pacer = Pacer()
        #: Snapshots applied so far.
        self.applied = 0
        #: Whether the watch is connected right now.
        self.live = False

    @property
    def warning_template(self) -> str:
        """The warning for groups without their own template."""
        return self.current.messages.warning_template

    @property
    def verified_text(self) -> str:
        """The answer to "I have joined" once verified."""
        return self.current.messages.verified_text

    def apply(self, config: fv.BotConfig) -> None:
        """Make ``config`` the bot's behaviour from the next update on."""
        cache = config.cache_settings(self.base_cache)
        if cache != self.cache.settings:
            log.info("membership cache settings changed: %s", cache)
            self.cache.settings = cache
            self.cache.clear()
        self.pacer.rate = config.rate_limits.moderation_per_second
        if "logging.level" in config.explicit or "logging.level" in self.current.explicit:
            level = config.logging.level or self.settings.log_level
            logging.getLogger().setLevel(level)
        self.current = config
        self.applied += 1

    # --8<-- [start:follow]
    async def follow(
        self,
        store: fv.Store,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Apply every snapshot of the config until cancelled; restart on errors.

        ``await tasks.start(live_config.follow, store)`` returns once the first
        snapshot is applied.
        """
        started = False
        delay = 0.5
        while True:
            stream = fv.BotConfigRepository(store).watch()
            try:
                await stream.start()
                self.live = True
                async for config in stream:
                    self.apply(config)
                    delay = 0.5
                    if not started:
                        started = True
                        task_status.started()
            except Exception as exc:  # the listener died: start a new one
                log.error("config watch failed, restarting in %.1fs: %r", delay, exc)
            finally:
                self.live = False
                await stream.aclose()
            await anyio.sleep(delay)
            delay = min(delay * 2, 30.0)
    # --8<-- [end:follow]
