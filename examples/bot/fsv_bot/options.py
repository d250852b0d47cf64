"""Per-group options, stored in the group document's ``params`` map.

``params`` is free-form in the library; this bot reads two keys, and keeps
whatever else other tools put there:

``warning_template``
    The warning text. ``{user}`` becomes a mention of the user, ``{channels}``
    the list of channels to join, ``{group}`` the group's title. Without it, the
    runtime config's ``messages.warning_template`` (set from the dashboard) applies.
``mute``
    ``true`` (default): mute users who are not members; ``false``: only delete
    their messages and warn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import firestore_verify as fv

__all__ = ["DEFAULT_WARNING", "MAX_TEMPLATE_LENGTH", "GroupOptions"]

#: The library's default, used until the runtime config sets another.
DEFAULT_WARNING = fv.DEFAULT_WARNING_TEMPLATE
#: Room for the channel list and names within Telegram's 4096 characters.
MAX_TEMPLATE_LENGTH = 1000


# --8<-- [start:options]
@dataclass(frozen=True)
class GroupOptions:
    """The options of one group, with defaults for what is not set."""

    warning_template: str = DEFAULT_WARNING
    mute: bool = True

    @classmethod
    def of(cls, group: fv.ProtectedGroup, *, default_warning: str = DEFAULT_WARNING,
           ) -> GroupOptions:
        """Read the options from ``group.params``; invalid values fall back to the defaults.

        ``default_warning`` is the template for a group without its own (the runtime
        config's, when the bot follows it).
        """
        params: dict[str, Any] = group.params
        template = params.get("warning_template")
        mute = params.get("mute")
        return cls(
            warning_template=template
            if isinstance(template, str) and template.strip()
            else default_warning,
            mute=mute if isinstance(mute, bool) else True,
        )
# --8<-- [end:options]
