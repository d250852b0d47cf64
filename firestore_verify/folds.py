"""What a logger does with cache hits: store each, fold them, or keep a sample.

A busy bot checks the same user in the same group again and again, and most of
those checks are answered from the membership cache. Storing each as an event
is the dominant cost at scale (one document and its index entries per check),
so `LoggerSettings.cache_hits` chooses:

* ``"every"``: each hit is an event of its own (the default);
* ``"fold"``: hits of one user, group, channel and outcome within
  ``fold_seconds`` become one event whose ``repeats`` counts the others.
  Counters and rollups stay exact (they add ``1 + repeats``); the activity feed
  shows one line per window;
* ``"sample"``: one hit in ``sample_every`` is stored with
  ``repeats = sample_every - 1``, the others are not: totals become estimates
  and a user seen only in dropped hits is missing from the unique-user counts.

Checks that went to Telegram (``cached=False``) are always stored as they are.
`HitFolder` is the logger's bookkeeping for it; it does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from firestore_verify.models import Status, Verification

__all__ = ["CacheHitPolicy", "HitFolder"]

CacheHitPolicy = Literal["every", "fold", "sample"]
"""What a logger does with cache hits; see the module's docs."""

_Key = tuple[int, int, int | None, Status, date]


@dataclass
class _Fold:
    event: Verification
    due: float


class HitFolder:
    """Holds cache hits being folded until their window ends; no I/O.

    Args:
        policy: ``"every"``, ``"fold"`` or ``"sample"``.
        window: Seconds a fold stays open (``fold_seconds``).
        sample_every: Keep one hit in this many (``"sample"``).

    """

    def __init__(self, policy: CacheHitPolicy, *, window: float, sample_every: int) -> None:
        self.policy = policy
        self.window = window
        self.sample_every = sample_every
        self._folds: dict[_Key, _Fold] = {}
        self._hits = 0

    def __len__(self) -> int:
        """Folds open now (each becomes one event)."""
        return len(self._folds)

    def sampled_out(self, event: Verification) -> bool:
        """Whether ``event`` is a hit the sample leaves out (``"sample"`` only).

        A kept hit comes back with ``repeats`` set to stand for the others.
        """
        if self.policy != "sample" or not event.cached:
            return False
        self._hits += 1
        return self._hits % self.sample_every != 1 % self.sample_every

    def sample(self, event: Verification) -> Verification:
        """``event`` as the sample stores it: standing for ``sample_every`` hits."""
        if self.policy != "sample" or not event.cached or self.sample_every == 1:
            return event
        return event.model_copy(update={"repeats": event.repeats + self.sample_every - 1})

    def absorbing(self, event: Verification) -> Verification | None:
        """The event of the open fold ``event`` would join, with ``event`` counted.

        ``None`` when ``event`` would open a fold or is not folded. Changes nothing:
        the logger spools this first, then calls `fold`.
        """
        open_fold = self._folds.get(self._key(event)) if self._folds_it(event) else None
        if open_fold is None:
            return None
        return open_fold.event.model_copy(
            update={"repeats": open_fold.event.repeats + event.checks})

    def _folds_it(self, event: Verification) -> bool:
        return self.policy == "fold" and event.cached

    @staticmethod
    def _key(event: Verification) -> _Key:
        return (event.user_id, event.group_id, event.channel_id, event.status,
                event.occurred_at.date())

    def fold(self, event: Verification, now: float) -> Literal["opened", "absorbed"] | None:
        """Fold ``event`` in when it is a hit (``"fold"``).

        Returns ``"opened"`` (it starts a fold), ``"absorbed"`` (an open fold
        counts it), or ``None``: store it as it is.
        """
        if not self._folds_it(event):
            return None
        key = self._key(event)
        grown = self.absorbing(event)
        if grown is None:
            self._folds[key] = _Fold(event, now + self.window)
            return "opened"
        self._folds[key].event = grown
        return "absorbed"

    def next_due(self) -> float | None:
        """When the oldest open fold closes (``anyio.current_time()`` clock), if any."""
        # Folds open in time order and all last one window: the first is the oldest.
        oldest = next(iter(self._folds.values()), None)
        return None if oldest is None else oldest.due

    def close_due(self, now: float) -> list[Verification]:
        """Close the folds whose window ended: the event of each."""
        closed = []
        while self._folds:
            key, oldest = next(iter(self._folds.items()))
            if oldest.due > now:
                break
            closed.append(self._close(key))
        return closed

    def close_all(self) -> list[Verification]:
        """Close every open fold (a flush, or the logger closing)."""
        return [self._close(key) for key in list(self._folds)]

    def open_events(self) -> list[Verification]:
        """The events the open folds would store now (for ``unwritten``)."""
        return [f.event for f in self._folds.values()]

    def _close(self, key: _Key) -> Verification:
        return self._folds.pop(key).event
