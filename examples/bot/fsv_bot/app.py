"""Wiring: the store, the live registry, the logger, PTB's Application and the metrics server.

:func:`running_bot` starts everything in order and stops it in reverse; the bot's
``main``, the simulator, the demo and the tests all run the bot through it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import anyio
from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    SimpleUpdateProcessor,
    filters,
)

import firestore_verify as fv
from fsv_bot.admins import AdminCache
from fsv_bot.commands import Commands
from fsv_bot.config import Settings
from fsv_bot.guard import Guard
from fsv_bot.live_config import LiveConfig
from fsv_bot.membership import make_checker
from fsv_bot.metrics import Metrics, MetricsServer
from fsv_bot.notices import VERIFY_PREFIX

__all__ = [
    "COMMANDS",
    "UPDATES",
    "BotRuntime",
    "CountingUpdateProcessor",
    "build_application",
    "running_bot",
]

log = logging.getLogger("fsv_bot.app")

COMMANDS = ("start", "help", "protect", "unprotect", "status", "addchannel", "removechannel",
            "channels", "settings")
#: ``chat_member`` must be asked for explicitly, or Telegram never sends joins and leaves.
UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.CHAT_MEMBER, Update.MY_CHAT_MEMBER]

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


@dataclass
class BotRuntime:
    """A running bot and its parts (tests and the simulator look inside)."""

    settings: Settings
    store: fv.Store
    application: AnyApplication
    registry: fv.GroupIndex
    #: In memory, or a ``RedisMembershipCache`` shared by every process (``FSV_REDIS_URL``).
    cache: fv.MembershipCache
    events: fv.VerificationLogger
    metrics: Metrics
    guard: Guard
    metrics_server: MetricsServer | None
    #: The dashboard's runtime config, followed live.
    live_config: LiveConfig

    @property
    def updates_handled(self) -> int:
        """Updates whose handlers have all returned (or raised) since the bot started."""
        processor = self.application.update_processor
        assert isinstance(processor, CountingUpdateProcessor)
        return processor.handled

    @property
    def metrics_url(self) -> str | None:
        """``http://host:port`` of ``/metrics`` and ``/health``, when served."""
        server = self.metrics_server
        return None if server is None else f"http://{self.settings.metrics_host}:{server.port}"

    @property
    def cache_status(self) -> str:
        """``memory`` (this process's own), ``redis`` (shared) or ``degraded`` (Redis is away)."""
        cache = self.cache
        return cache.status if isinstance(cache, fv.RedisMembershipCache) else "memory"

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy when the group and config watches are live and PTB is receiving updates.

        A degraded cache is reported (``cache: degraded``) but does not make the bot
        unhealthy: it keeps checking, from memory, and goes back to Redis by itself.
        """
        updater = self.application.updater
        receiving = self.application.running and (updater is None or updater.running)
        cache = self.cache.stats
        details: dict[str, Any] = {
            # Both watches: the protected groups and the dashboard's runtime config.
            "config_watch": "live" if self.registry.live and self.live_config.live else "down",
            "updates": "receiving" if receiving else "stopped",
            "mode": self.settings.mode,
            "protected_groups": len(self.registry),
            "events_pending": self.events.pending,
            # ok / retrying (Firestore errors, events kept) / failed (no retry fixes it).
            "events_logger": self.events.health.status,
            "events_last_error": self.events.health.last_error,
            "cache": self.cache_status,
            "cache_entries": cache.size,
            "cache_hit_rate": round(cache.hit_rate, 3),
        }
        logging_ok = self.events.health.status != "failed"
        return (bool(self.registry.live and self.live_config.live and receiving and logging_ok),
                details)


class CountingUpdateProcessor(SimpleUpdateProcessor):
    """PTB's concurrent update processing, counting each update once it is fully handled.

    The count is what lets a caller (the simulator, the tests) wait until the bot has
    finished with everything Telegram delivered, instead of sleeping and hoping.
    """

    def __init__(self, max_concurrent_updates: int, metrics: Metrics) -> None:
        super().__init__(max_concurrent_updates)
        self.metrics = metrics
        #: Updates whose handlers have all returned or raised.
        self.handled = 0

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the handlers, then count the update (even when a handler failed)."""
        try:
            await coroutine
        finally:
            self.handled += 1
            self.metrics.updates_handled.inc()


def build_application(settings: Settings, metrics: Metrics) -> AnyApplication:
    """PTB's Application for ``settings``: concurrent, counted updates; no job queue."""
    return (
        Application.builder()
        .token(settings.token)
        .base_url(settings.api_base_url)
        .concurrent_updates(CountingUpdateProcessor(settings.concurrency, metrics))
        .job_queue(None)
        .build()
    )


# --8<-- [start:handlers]
def install_handlers(application: AnyApplication, guard: Guard, commands: Commands) -> None:
    """Guard first (group -1: it may stop a blocked user's command), then the rest."""
    application.add_handler(
        MessageHandler(filters.ChatType.GROUPS & ~filters.StatusUpdate.ALL, guard.on_message),
        group=-1,
    )
    application.add_handler(CommandHandler(list(COMMANDS), commands.handle))
    application.add_handler(CallbackQueryHandler(guard.on_verify, pattern=f"^{VERIFY_PREFIX}"))
    application.add_handler(ChatMemberHandler(guard.on_chat_member,
                                              ChatMemberHandler.CHAT_MEMBER))
    application.add_handler(ChatMemberHandler(_on_my_chat_member,
                                              ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_error_handler(_on_error)
# --8<-- [end:handlers]


async def _on_my_chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    change = update.my_chat_member
    if change is not None:
        log.warning("bot status changed to %s", change.new_chat_member.status,
                    extra={"group_id": change.chat.id})


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("handler failed", exc_info=context.error)


def _webhook_secret(settings: Settings, config: fv.BotConfig) -> str | None:
    """The dashboard's webhook secret once one is stored, else the environment's."""
    if "webhook.secret" in config.explicit:
        return config.webhook.secret
    return settings.webhook_secret


async def _membership_cache(settings: Settings, stack: AsyncExitStack) -> fv.MembershipCache:
    """Shared on Redis when ``FSV_REDIS_URL`` is set (closed with ``stack``), else in memory."""
    if settings.redis_url is None:
        return fv.MembershipCache(settings.cache)
    # Never raises for an unreachable Redis: it starts degraded and reconnects by itself.
    cache = await stack.enter_async_context(
        fv.RedisMembershipCache.from_url(settings.redis_url, settings.cache))
    log.info("membership cache on Redis (%s)", cache.status)
    return cache


# --8<-- [start:running_bot]
@asynccontextmanager
async def running_bot(settings: Settings, *, store: fv.Store | None = None,
                      ) -> AsyncIterator[BotRuntime]:
    """Start the bot (polling or webhook) and yield it; leaving stops it cleanly.

    ``store`` defaults to ``fv.connect(...)`` from the settings' environment (closed
    on exit); pass one to share it (tests, the simulator).
    """
    async with AsyncExitStack() as stack:
        if store is None:
            store = await fv.connect(database=settings.database, prefix=settings.prefix,
                                     env=settings.env)
            stack.push_async_callback(store.close)
        metrics = Metrics()
        registry = fv.GroupIndex()
        cache = await _membership_cache(settings, stack)
        events = await stack.enter_async_context(store.verifications.logger(
            shards=settings.event_shards, spool=settings.event_spool,
            leases=settings.event_leases, lease_seconds=settings.lease_seconds,
            cache_hits=settings.event_cache_hits,
            retention_days=settings.event_retention_days))
        tasks = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(tasks.cancel_scope.cancel)
        await tasks.start(registry.follow, store)
        live_config = LiveConfig(settings, cache)
        await tasks.start(live_config.follow, store)

        application = build_application(settings, metrics)
        checker = make_checker(application.bot, cache, events, metrics)
        guard = Guard(registry, checker, AdminCache(metrics), metrics, live_config)
        install_handlers(application, guard, Commands(store, registry, live_config))
        await application.initialize()
        stack.push_async_callback(application.shutdown)
        await application.start()
        stack.push_async_callback(application.stop)
        updater = application.updater
        assert updater is not None
        if settings.mode == "webhook":
            assert settings.webhook_url is not None
            await updater.start_webhook(
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                url_path=urlparse(settings.webhook_url).path.lstrip("/"),
                webhook_url=settings.webhook_url,
                secret_token=_webhook_secret(settings, live_config.current),
                allowed_updates=UPDATES,
            )
        else:
            await updater.start_polling(poll_interval=0, timeout=settings.poll_timeout,
                                        allowed_updates=UPDATES)
        stack.push_async_callback(updater.stop)

        runtime = BotRuntime(settings, store, application, registry, cache, events, metrics,
                             guard, None, live_config)
        metrics.watch(lambda: len(registry), lambda: events.pending)
        metrics.watch_cache(lambda: cache.stats)
        if settings.metrics_port is not None:
            server = MetricsServer(metrics, runtime.health, host=settings.metrics_host,
                                   port=settings.metrics_port)
            await server.start()
            stack.push_async_callback(server.stop)
            runtime.metrics_server = server
        log.info("bot started (%s, %d protected groups)", settings.mode, len(registry))
        yield runtime
        log.info("bot stopping")
# --8<-- [end:running_bot]
