"""The warning a user gets: who, which channels, a Join button each, and "I have joined"."""

from __future__ import annotations

import html

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, User

import firestore_verify as fv

__all__ = ["VERIFY_PREFIX", "mention", "parse_verify_data", "render_warning", "verify_data"]

#: Callback data of the "I have joined" button: ``fsv:verify:<user_id>``.
VERIFY_PREFIX = "fsv:verify:"


def verify_data(user_id: int) -> str:
    """Callback data of the "I have joined" button for ``user_id``."""
    return f"{VERIFY_PREFIX}{user_id}"


def parse_verify_data(data: str | None) -> int | None:
    """The user id in "I have joined" callback data, or ``None``."""
    if not data or not data.startswith(VERIFY_PREFIX):
        return None
    tail = data[len(VERIFY_PREFIX):]
    return int(tail) if tail.isdigit() else None


def mention(user: User) -> str:
    """An HTML mention of ``user`` by first name."""
    return f'<a href="tg://user?id={user.id}">{html.escape(user.first_name)}</a>'


def _channel_label(ref: fv.ChannelRef) -> str:
    return f"@{ref.username}" if ref.username else ref.title


# --8<-- [start:render]
def render_warning(
    template: str, user: User, group_title: str, missing: list[fv.ChannelRef]
) -> tuple[str, InlineKeyboardMarkup]:
    """The warning's HTML text and keyboard: one Join button per channel, then "I have joined".

    The template is escaped, then ``{user}``, ``{group}`` and ``{channels}`` are filled,
    so an admin's text can never break the HTML.
    """
    channels = ", ".join(f"<b>{html.escape(_channel_label(ref))}</b>" for ref in missing)
    text = (
        html.escape(template, quote=False)
        .replace("{user}", mention(user))
        .replace("{group}", f"<b>{html.escape(group_title)}</b>")
        .replace("{channels}", channels)
    )
    rows = [
        [InlineKeyboardButton(f"Join {ref.title}", url=url)]
        for ref in missing
        if (url := ref.join_url()) is not None
    ]
    rows.append([InlineKeyboardButton("I have joined", callback_data=verify_data(user.id))])
    return text, InlineKeyboardMarkup(rows)
# --8<-- [end:render]
