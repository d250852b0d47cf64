"""fsv-example-bot: a force-subscribe Telegram bot on firestore-verify.

Run it with ``fsv-bot`` (or ``python -m fsv_bot``); see :mod:`fsv_bot.config` for
the environment it reads, and ``fsv-bot-simulate`` / ``fsv-bot-demo`` to watch it
work against a local Bot API server.
"""

__version__ = "0.1.0"
