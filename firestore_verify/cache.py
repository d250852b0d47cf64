"""Membership cache: remembers who is in which channel, for a while.

A verification bot asks Telegram ``getChatMember`` for every message a user sends;
the answer rarely changes, and Telegram rate-limits the bot. `MembershipCache`
keeps the answers in memory:

* members are remembered for ``positive_ttl`` seconds (default 600), non-members
  for the shorter ``negative_ttl`` (default 60), so a user who just joined the
  channel is let in quickly;
* every entry's TTL is multiplied by a random factor in ``[1 - jitter, 1 + jitter]``
  so entries written together do not all expire (and hit Telegram) together;
* at most ``max_entries`` entries are kept; the least recently used go first.

Typical use::

    cache = MembershipCache(CacheSettings.from_env())

    is_member = cache.get(user_id, channel_id)
    if is_member is None:
        is_member = await ask_telegram(user_id, channel_id)
        cache.set(user_id, channel_id, is_member)

    # on a chat_member update (the user joined or left the channel):
    cache.invalidate(user_id, channel_id)

Every method is synchronous and never awaits, so calls from concurrent asyncio or
trio tasks on one event loop cannot interleave: no lock is needed. It is not
meant to be shared between threads.
"""

from __future__ import annotations

import math
import random
import reprlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from firestore_verify.env_settings import EnvSettings, reading_env
from firestore_verify.errors import ConfigurationError

__all__ = ["CacheSettings", "CacheStats", "MembershipCache"]

_Key = tuple[int, int]


_FIELDS: dict[str, tuple[type[float] | type[int], float, float]] = {
    "positive_ttl": (float, 0, math.inf),
    "negative_ttl": (float, 0, math.inf),
    "jitter": (float, 0, 1),
    "max_entries": (int, 1, math.inf),
}
"""field -> (type, lowest allowed, highest allowed (excluded))."""


def _shown(value: object) -> str:
    """``value``'s repr for an error message, shortened (deep or huge values included)."""
    try:
        return reprlib.repr(value)
    except ValueError:  # ints of more than 4300 digits refuse to become text
        return "a value too large to show"


def _validate(name: str, field: str, value: object) -> None:
    """Raise ConfigurationError, naming ``name``, unless ``value`` fits ``field``."""
    kind, low, high = _FIELDS[field]
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        what = "an integer" if kind is int else "a number"
        raise ConfigurationError(f"{name} must be {what}, got {_shown(value)}")
    if kind is float:
        # An int past float's range compares below inf, then overflows in arithmetic.
        try:
            finite = math.isfinite(value)
        except OverflowError:
            finite = False
    else:
        finite = True
    if not (finite and low <= value < high):
        what = "an integer" if kind is int else "a finite number"
        bound = f">= {low}" if high == math.inf else f"in [{low}, {high})"
        raise ConfigurationError(f"{name} must be {what} {bound}, got {_shown(value)}")


def _bounded(field: str, default: float, **extra: Any) -> Any:
    """A pydantic Field with ``field``'s default and range (and ``extra`` Field options).

    `BotConfig`'s cache section uses it too, so both accept exactly the same values.
    """
    kind, low, high = _FIELDS[field]
    bounds: dict[str, Any] = {"ge": low}
    if high != math.inf:
        bounds["lt"] = high
    if kind is float:
        bounds["allow_inf_nan"] = False
    return Field(default=default, **bounds, **extra)


class CacheSettings(EnvSettings):
    """How long and how many membership answers a `MembershipCache` keeps.

    A TTL of ``0`` turns caching of that kind of answer off (``set`` forgets it).
    Invalid values raise `ConfigurationError`. `from_env` reads
    ``FV_CACHE_POSITIVE_TTL``, ``FV_CACHE_NEGATIVE_TTL`` (seconds), ``FV_CACHE_JITTER``
    (a fraction, ``0.15`` = ±15 %) and ``FV_CACHE_MAX_ENTRIES``; unset ones keep
    their defaults.
    """

    model_config = EnvSettings.config(env_prefix="FV_CACHE_")

    positive_ttl: float = _bounded("positive_ttl", 600.0)
    """Seconds a "is a member" answer is kept (before jitter)."""
    negative_ttl: float = _bounded("negative_ttl", 60.0)
    """Seconds a "is not a member" answer is kept (before jitter)."""
    jitter: float = _bounded("jitter", 0.15)
    """Relative spread of each entry's TTL: ``0.15`` means ±15 %. In ``[0, 1)``."""
    max_entries: int = _bounded("max_entries", 100_000)
    """Most entries kept; the least recently used are evicted beyond it."""

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_only(cls, value: object, info: ValidationInfo) -> object:
        if reading_env():  # text from the environment, parsed by pydantic
            return value
        kind = _FIELDS[str(info.field_name)][0]
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float
                                                     else int):
            raise ValueError(f"must be {'an integer' if kind is int else 'a number'}, "
                             f"got {_shown(value)}")
        return value


@dataclass(frozen=True)
class CacheStats:
    """A snapshot of a `MembershipCache`'s counters."""

    hits: int
    """``get`` calls answered from the cache."""
    misses: int
    """``get`` calls that found nothing, or only an expired entry."""
    evictions: int
    """Entries dropped to stay within ``max_entries``."""
    size: int
    """Entries held now (some may have expired without being looked at yet)."""

    @property
    def hit_rate(self) -> float:
        """Hits as a fraction of all lookups (``0.0`` before the first lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class MembershipCache:
    """Remembers whether a user is a member of a channel, with TTLs, jitter and LRU eviction.

    ``clock`` returns seconds (monotonic by default) and ``rng`` draws the jitter;
    inject fakes for both in tests.
    """

    def __init__(
        self,
        settings: CacheSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings or CacheSettings()
        self._clock = clock
        self._rng = rng or random.Random()
        # (user_id, channel_id) -> (is_member, expires_at); order = least recently used first.
        self._entries: OrderedDict[_Key, tuple[bool, float]] = OrderedDict()
        self._by_user: dict[int, set[int]] = {}
        self._by_channel: dict[int, set[int]] = {}
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    def get(self, user_id: int, channel_id: int) -> bool | None:
        """Return the cached answer, or ``None`` when there is none (or it expired)."""
        key = (user_id, channel_id)
        entry = self._entries.get(key)
        if entry is None or entry[1] <= self._clock():
            if entry is not None:
                self._drop(key)
            self._misses += 1
            return None
        self._entries.move_to_end(key)
        self._hits += 1
        return entry[0]

    def set(self, user_id: int, channel_id: int, is_member: bool) -> None:
        """Remember ``is_member`` for the positive or negative TTL, with jitter."""
        key = (user_id, channel_id)
        ttl = self.settings.positive_ttl if is_member else self.settings.negative_ttl
        if ttl <= 0:
            self._drop(key)
            return
        jitter = self.settings.jitter
        ttl *= self._rng.uniform(1 - jitter, 1 + jitter)
        self._entries[key] = (is_member, self._clock() + ttl)
        self._entries.move_to_end(key)
        self._by_user.setdefault(user_id, set()).add(channel_id)
        self._by_channel.setdefault(channel_id, set()).add(user_id)
        while len(self._entries) > self.settings.max_entries:
            self._drop(next(iter(self._entries)))
            self._evictions += 1

    def invalidate(self, user_id: int, channel_id: int | None = None) -> None:
        """Forget one user's answer for ``channel_id``, or for every channel if ``None``."""
        channels = [channel_id] if channel_id is not None else list(self._by_user.get(user_id, ()))
        for channel in channels:
            self._drop((user_id, channel))

    def invalidate_channel(self, channel_id: int) -> None:
        """Forget every user's answer for ``channel_id`` (e.g. the channel was deleted)."""
        for user in list(self._by_channel.get(channel_id, ())):
            self._drop((user, channel_id))

    def clear(self) -> None:
        """Forget everything; the counters are kept."""
        self._entries.clear()
        self._by_user.clear()
        self._by_channel.clear()

    @property
    def stats(self) -> CacheStats:
        """Hit, miss and eviction counts since creation, and the current size."""
        return CacheStats(self._hits, self._misses, self._evictions, len(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: _Key) -> None:
        if self._entries.pop(key, None) is None:
            return
        user_id, channel_id = key
        for index, outer, inner in (
            (self._by_user, user_id, channel_id),
            (self._by_channel, channel_id, user_id),
        ):
            members = index[outer]
            members.discard(inner)
            if not members:
                del index[outer]
