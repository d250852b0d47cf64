"""``verifications``: reading events, writing them exactly once, and the batching logger."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from firestore_verify.errors import InvalidInputError
from firestore_verify.events import MAX_WRITES_PER_COMMIT, EventWriter, WriteOutcome
from firestore_verify.logger import LoggerSettings, VerificationLogger
from firestore_verify.models import Actor, Verification
from firestore_verify.repositories._base import Page, Repository

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["VerificationRepository"]


class VerificationRepository(Repository[Verification]):
    """``verifications``: reads, exactly-once writes and the batching logger."""

    model = Verification
    resource = "verification event"

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._writer: EventWriter | None = None

    @property
    def writer(self) -> EventWriter:
        """The store's shared `EventWriter`."""
        if self._writer is None:
            self._writer = EventWriter(self._store)
        return self._writer

    def logger(self, settings: LoggerSettings | None = None, **options: Any) -> VerificationLogger:
        """A `VerificationLogger`; use it with ``async with``.

        ``options`` are `LoggerSettings` fields.
        """
        if settings is None:
            settings = LoggerSettings(**options)
        elif options:
            settings = LoggerSettings(**(settings.model_dump() | options))
        return VerificationLogger(self._store, settings, writer=self.writer)

    async def create(self, data: Verification | Mapping[str, Any], *,
                     actor: Actor | None = None) -> Verification:
        """Write one event now, with its counters and rollups (prefer the logger in bots).

        Recording an event whose id is already stored changes nothing. Events are
        the bot's record, not admin changes: passing ``actor`` is an error.

        Raises:
            InvalidInputError: for an invalid event, or when ``actor`` is given.
        """
        if actor is not None:
            raise InvalidInputError("verification events are not admin changes: no actor.")
        event = self._validate(data)
        await self.writer.write([event])
        return await self.get(event.id)

    async def write_many(self, events: Sequence[Verification | Mapping[str, Any]],
                         *, shard: int = 0) -> WriteOutcome:
        """Write many events exactly once, in as many atomic batches as needed.

        Events whose id is already stored are skipped and not counted again, so
        re-running an import is harmless.
        """
        # Oldest first: users' first-seen days then rarely need moving back.
        parsed = sorted((self._validate(e) for e in events), key=lambda e: e.occurred_at)
        written = already = conflicts = retries = 0
        chunk: list[Verification] = []
        for event in parsed:
            if chunk and self.writer.writes_needed([*chunk, event]) > MAX_WRITES_PER_COMMIT:
                outcome = await self.writer.write(chunk, shard=shard)
                written += outcome.written
                already += outcome.already_stored
                conflicts += outcome.conflicts
                retries += outcome.retries
                chunk = []
            chunk.append(event)
        if chunk:
            outcome = await self.writer.write(chunk, shard=shard)
            written += outcome.written
            already += outcome.already_stored
            conflicts += outcome.conflicts
            retries += outcome.retries
        return WriteOutcome(written=written, already_stored=already, conflicts=conflicts,
                            retries=retries)

    async def update(self, key: object, *, actor: Actor | None = None,
                     **changes: Any) -> Verification:
        """Events are immutable: they count toward counters and rollups.

        Raises:
            InvalidInputError: always.

        """
        raise InvalidInputError("verification events cannot be changed once recorded.")

    async def delete(self, key: object, *, actor: Actor | None = None) -> bool:
        """Events are not deleted one by one: counters and rollups count them.

        Raises:
            InvalidInputError: always.

        """
        raise InvalidInputError(
            "verification events cannot be deleted one by one; counters and rollups count "
            "them (for retention, log with retention_days= and put a TTL policy on "
            "expires_at; see the docs' \"Keep events for a while\")."
        )

    async def latest(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        status: Any = None,
        group_id: int | None = None,
    ) -> Page[Verification]:
        """Events newest first, optionally of one status and/or group."""
        where: dict[str, Any] = {}
        if status is not None:
            where["status"] = status
        if group_id is not None:
            where["group_id"] = group_id
        return await self.list(limit=limit, cursor=cursor, order_by="occurred_at",
                               descending=True, **where)
