"""``fsv-bot`` / ``python -m fsv_bot``: run the bot until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys

import anyio

import firestore_verify as fv
from fsv_bot.app import running_bot
from fsv_bot.config import ConfigError, Settings
from fsv_bot.logs import setup_logging

__all__ = ["main", "serve"]

log = logging.getLogger("fsv_bot")


async def serve(settings: Settings) -> None:
    """Run the bot until the process is asked to stop."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with running_bot(settings):
            async for signum in signals:
                log.info("received %s, stopping", signal.Signals(signum).name)
                break


def main() -> int:
    """Entry point: configuration errors are printed plainly and exit with status 2."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    try:
        anyio.run(serve, settings)
    except fv.ConfigurationError as exc:  # Firestore settings, checked by fv.connect
        print(f"invalid Firestore configuration: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
