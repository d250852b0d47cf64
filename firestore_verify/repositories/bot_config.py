"""``store.bot_config``: the bot's typed settings in ``admin_config``.

The schema (sections, bounds, sensitivity) is `firestore_verify.bot_config`;
this repository reads it masked, writes it audited and watches it live.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from google.cloud.firestore_v1.base_query import FieldFilter

from firestore_verify.bot_config import CONFIG_KEYS, SCHEMA, SENSITIVE_KEYS, BotConfig, ConfigSchema
from firestore_verify.errors import InvalidInputError
from firestore_verify.live import LiveStream, query_source
from firestore_verify.models import Actor, ConfigEntry
from firestore_verify.repositories.admin import MASK

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["BotConfigRepository"]

log = logging.getLogger("firestore_verify.bot_config")

_MAX_IN_QUERY = 30  # Firestore's limit for an ``in`` filter


class BotConfigRepository:
    """The bot's settings in ``admin_config``: schema, masked reads, audited updates, watch."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    def schema() -> ConfigSchema:
        """Every setting: type, default, bounds, description, sensitivity."""
        return SCHEMA

    @staticmethod
    def _config(stored: Mapping[str, Any]) -> BotConfig:
        """The typed config of stored values; an invalid one falls back to its default."""
        good: dict[str, Any] = {}
        for key, value in stored.items():
            try:
                BotConfig.from_flat({key: value})
            except InvalidInputError as exc:  # written by another client: keep the bot going
                log.warning("ignoring stored config %s: %s", key, exc)
                continue
            good[key] = value
        return BotConfig.from_flat(good)

    async def load(self) -> BotConfig:
        """The current typed config, unmasked (for the app applying it)."""
        found = await self._store.config.get_many(list(CONFIG_KEYS))
        return self._config({key: entry.value for key, entry in found.items()})

    async def get(self, *, masked: bool = True) -> dict[str, Any]:
        """Every value by dotted key, defaults filled in; sensitive ones masked when set."""
        values = (await self.load()).flat()
        if masked:
            values.update({key: MASK for key in SENSITIVE_KEYS if values[key] is not None})
        return values

    async def update(self, changes: Mapping[str, Any], *, actor: Actor) -> list[str]:
        """Validate ``changes`` whole, then write them and their audit entries atomically.

        A sensitive key sent as the mask keeps its value. Setting a key to the
        value it already has (stored or default) changes nothing.

        Args:
            changes: New values by dotted key.
            actor: Who changes them; each changed key gets one audit entry.

        Returns:
            The keys that changed, in schema order.

        Raises:
            InvalidInputError: listing every unknown key and invalid value (in
                ``errors``); nothing is written.

        """
        wanted = {key: value for key, value in changes.items()
                  if not (key in SENSITIVE_KEYS and value == MASK)}
        validated = BotConfig.from_flat(wanted).flat()
        values = {key: validated[key] for key in CONFIG_KEYS if key in wanted}
        defaults = BotConfig().flat()
        descriptions = {field.key: field.description for field in SCHEMA.settings}
        changed = await self._store.config.set_many(
            values, actor=actor, descriptions=descriptions, sensitive=SENSITIVE_KEYS,
            defaults=defaults)
        return [key for key in CONFIG_KEYS if key in changed]

    def watch(self) -> LiveStream[BotConfig]:
        """The typed config, live: a new `BotConfig` whenever a setting changes."""
        store = self._store
        collection = store.sync_client.collection(store.collection_name(ConfigEntry.collection))
        keys = list(CONFIG_KEYS)
        assert len(keys) <= _MAX_IN_QUERY
        query = collection.where(filter=FieldFilter(
            "__name__", "in", [collection.document(key) for key in keys]))

        def combine(sources: list[list[Any]]) -> BotConfig:
            return self._config({s.id: (s.to_dict() or {}).get("value")
                                 for s in sources[0] if s.exists})

        return LiveStream([query_source(query)], combine)
