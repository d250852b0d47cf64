"""A small force-subscribe bot on aiogram 3 and firestore-verify (see ``bot.py``)."""
