"""`EventSpool`: an optional on-disk spool that keeps accepted events across crashes.

The verification logger buffers events in memory until Firestore commits them,
so a process that is killed (``SIGKILL``, an OOM kill, a power cut) loses what
it had accepted but not yet committed. With a spool, ``record()`` first appends
the event to a local SQLite file, and the logger removes it again once its batch
is committed; on the next start, `EventSpool.pending()` holds exactly the
events that may not have landed, to be replayed. A replayed event that did land
is skipped by the exactly-once writer (events carry their ids), so replaying
too much is harmless and replaying too little cannot happen.

Durability: the file is in WAL mode with ``synchronous=FULL``, so every
`append()` is fsynced before it returns: an event survives a
process kill *and* an OS crash or power loss. ``synchronous="normal"`` skips that
fsync (SQLite then syncs only at checkpoints): appends still survive the process
being killed, since the data has reached the OS, but the last ones may be lost
with the machine. Choose it only where an fsync per event is too slow and the
machine's crash is an accepted risk.

One spool belongs to one logger at a time: the file is locked while open, and a
second open (another process, or the same one) fails with
`ConfigurationError` instead of interleaving.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Literal

from pydantic import ValidationError

from firestore_verify.errors import ConfigurationError, SpoolError
from firestore_verify.models import Verification

__all__ = ["SPOOL_FORMAT", "SPOOL_VERSION", "EventSpool", "SpoolError"]

SPOOL_FORMAT = "firestore-verify event spool"
"""The ``format`` row that marks a SQLite file as an event spool."""
SPOOL_VERSION = 1
"""The version of the spool's tables; a file with another version is refused."""

_SCHEMA = (
    "CREATE TABLE spool_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    # seq keeps append order; AUTOINCREMENT so an acknowledged seq is never reused.
    "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
    " body TEXT NOT NULL)",
)


class EventSpool:
    """A durable, ordered set of verification events, in one SQLite file.

    Every method is synchronous and one small transaction, cheap enough to call
    from the event loop for each event::

        with EventSpool("/var/lib/bot/events.spool") as spool:
            for event in spool.pending():  # left over from the last run
                ...
            spool.append(event)             # durable when it returns
            spool.acknowledge([event.id])   # committed to Firestore: forget it

    Args:
        path: The spool file; created (with its tables) when it does not exist.
            Its directory must exist and be writable.
        synchronous: ``"full"`` (default) fsyncs every change; ``"normal"``
            survives a killed process but not an OS crash (see the module notes).

    Raises:
        ConfigurationError: ``path`` is a directory, cannot be created or written,
            is not a spool (another SQLite database, or not SQLite at all), has
            another format version, or is open elsewhere.

    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["full", "normal"] = "full",
    ) -> None:
        if synchronous not in ("full", "normal"):
            raise ConfigurationError(
                f"synchronous must be 'full' or 'normal', got {synchronous!r}.")
        self.path = Path(path)
        """The spool file."""
        self._lock = threading.Lock()
        self._check_path()
        try:
            connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0)
        except sqlite3.Error as exc:
            raise self._open_error(exc) from None
        try:
            self._setup(connection, synchronous)
        except BaseException:
            connection.close()
            raise
        self._db: sqlite3.Connection | None = connection

    # -- opening ---------------------------------------------------------------------
    def _check_path(self) -> None:
        path = self.path
        if path.is_dir():
            raise ConfigurationError(
                f"the event spool path {str(path)!r} is a directory; give a file path "
                f"inside it, e.g. {str(path / 'events.spool')!r}.")
        parent = path.parent
        if not parent.is_dir():
            raise ConfigurationError(
                f"the directory of the event spool {str(path)!r} does not exist; "
                "create it first.")
        # SQLite would open a read-only file read-only without a word, then fail the
        # first write with "disk I/O error"; the WAL file needs the directory too.
        for target, what in ((path, "file"), (parent, "directory")):
            if target.exists() and not os.access(target, os.W_OK):
                raise ConfigurationError(
                    f"the event spool {str(path)!r} is not writable (its {what} "
                    f"{str(target)!r} is read-only for this process); fix its permissions "
                    "or choose another path.")

    def _open_error(self, exc: sqlite3.Error) -> ConfigurationError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return ConfigurationError(
                f"the event spool {str(self.path)!r} is in use by another logger (this or "
                "another process); give each logger a spool file of its own.")
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            return ConfigurationError(
                f"cannot write the event spool {str(self.path)!r} ({text}); make the file "
                "and its directory writable by this process, or choose another path.")
        if "not a database" in text or "malformed" in text:
            return ConfigurationError(
                f"{str(self.path)!r} is not an event spool (not an SQLite database: {text}); "
                "give the spool a path of its own.")
        return ConfigurationError(f"cannot open the event spool {str(self.path)!r}: {text}")

    def _setup(self, db: sqlite3.Connection, synchronous: str) -> None:
        try:
            # Exclusive locking: the lock is taken by the first access below and held
            # until close, so a second logger on the same file fails at once.
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            # Read before writing anything: someone else's database (or a file that is
            # not SQLite at all) is refused untouched, not switched to WAL.
            fresh = self._check_schema(db)
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()
            db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            db.execute("BEGIN IMMEDIATE")
            try:
                if fresh:
                    for statement in _SCHEMA:
                        db.execute(statement)
                    db.executemany("INSERT INTO spool_meta (key, value) VALUES (?, ?)",
                                   [("format", SPOOL_FORMAT), ("version", str(SPOOL_VERSION))])
                # A real write even when nothing is new: SQLite silently opens a file
                # it may not write read-only, and only a write reveals that.
                db.execute("INSERT OR REPLACE INTO spool_meta (key, value) VALUES "
                           "('opened_by_pid', ?)", (str(os.getpid()),))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._open_error(exc) from None
        if mode is None or str(mode[0]).lower() != "wal":
            raise ConfigurationError(
                f"the event spool {str(self.path)!r} could not use WAL mode (got "
                f"{mode!r}); put it on a local file system.")

    def _check_schema(self, db: sqlite3.Connection) -> bool:
        """Whether the file is new (no tables yet); raise unless it is a spool of ours."""
        tables = {row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        if not tables:
            return True
        meta: dict[str, str] = {}
        if "spool_meta" in tables:
            meta = dict(db.execute("SELECT key, value FROM spool_meta").fetchall())
        if meta.get("format") != SPOOL_FORMAT:
            raise ConfigurationError(
                f"{str(self.path)!r} is an SQLite database but not an event spool (tables: "
                f"{', '.join(sorted(tables))}); give the spool a path of its own.")
        if meta.get("version") != str(SPOOL_VERSION):
            raise ConfigurationError(
                f"the event spool {str(self.path)!r} has format version "
                f"{meta.get('version')!r}; this firestore-verify reads version "
                f"{SPOOL_VERSION}. Replay it with the version that wrote it, or move it away.")
        return False

    # -- the API ---------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise SpoolError(
                f"the event spool {str(self.path)!r} is closed; open it again with "
                "EventSpool(path).")
        return self._db

    def _fail(self, what: str, exc: sqlite3.Error) -> SpoolError:
        return SpoolError(f"could not {what} the event spool {str(self.path)!r}: {exc} "
                          "(is the disk full or failing?)")

    def append(self, event: Verification, *, replace: bool = False) -> None:
        """Store ``event`` durably; when this returns, it survives a crash.

        Appending an id that is pending already changes nothing (the first
        append keeps its place and content), unless ``replace``: then the new
        content replaces the old in the same place (a fold of cache hits, stored
        as it grows).

        Raises:
            SpoolError: the event could not be stored (it was not accepted).

        """
        body = event.model_dump_json()
        on_conflict = "DO UPDATE SET body = excluded.body" if replace else "DO NOTHING"
        with self._lock:
            db = self._connection()
            try:
                db.execute("INSERT INTO events (id, body) VALUES (?, ?) "
                           f"ON CONFLICT (id) {on_conflict}", (event.id, body))
            except sqlite3.Error as exc:
                raise self._fail("append to", exc) from None

    def acknowledge(self, ids: Iterable[str]) -> None:
        """Forget the events ``ids`` (committed to Firestore); unknown ids are ignored.

        Raises:
            SpoolError: the spool could not be changed (the events stay pending).

        """
        rows = [(event_id,) for event_id in ids]
        if not rows:
            return
        with self._lock:
            db = self._connection()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    db.executemany("DELETE FROM events WHERE id = ?", rows)
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self._fail("acknowledge events in", exc) from None

    def pending(self) -> list[Verification]:
        """The events appended and not acknowledged, oldest append first.

        Raises:
            SpoolError: the spool could not be read, or holds an event this
                version cannot read.

        """
        with self._lock:
            db = self._connection()
            try:
                rows = db.execute("SELECT id, body FROM events ORDER BY seq").fetchall()
            except sqlite3.Error as exc:
                raise self._fail("read", exc) from None
        events = []
        for event_id, body in rows:
            try:
                events.append(Verification.model_validate_json(body))
            except ValidationError as exc:
                raise SpoolError(
                    f"event {event_id!r} in the spool {str(self.path)!r} is unreadable "
                    f"({exc.error_count()} problems, first: {exc.errors()[0]['msg']}).",
                ) from None
        return events

    def __len__(self) -> int:
        """How many events are pending."""
        with self._lock:
            db = self._connection()
            try:
                return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
            except sqlite3.Error as exc:
                raise self._fail("read", exc) from None

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        return self._db is None

    def close(self) -> None:
        """Close the file (pending events stay in it); closing twice is harmless."""
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()

    def __enter__(self) -> EventSpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._db is None else "open"
        return f"EventSpool({str(self.path)!r}, {state})"
