"""Read a legacy SQLite database (standard library ``sqlite3``, read-only)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from firestore_verify.errors import ConfigurationError
from firestore_verify.migrate.sources import LegacySource, quote

__all__ = ["SqliteSource", "sqlite_path"]


def sqlite_path(url: str) -> Path:
    """The file of a SQLAlchemy-style SQLite URL.

    ``sqlite:///bot.db`` is relative to the working directory,
    ``sqlite:////srv/bot.db`` is absolute.
    """
    path = unquote(urlsplit(url).path)
    if not path or path == "/":
        raise ConfigurationError(
            f"{url!r} names no database file: use sqlite:///relative/bot.db or "
            "sqlite:////absolute/bot.db."
        )
    return Path(path[1:])


class SqliteSource(LegacySource):
    """A legacy SQLite file, opened read-only (``mode=ro``): the migration never writes it."""

    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = sqlite_path(url)
        if self.path.is_dir():
            raise ConfigurationError(
                f"{str(self.path)!r} (from {url!r}) is a directory, not a SQLite database "
                "file: name the bot's .db file inside it."
            )
        if not self.path.is_file():
            raise ConfigurationError(
                f"SQLite database {str(self.path)!r} does not exist (from {url!r}); check the "
                "path: sqlite:///relative.db or sqlite:////absolute.db."
            )
        try:
            # The verification log is read in a worker thread (one thread at a time), while
            # the event loop commits: the connection may not insist on its first thread.
            self._conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                         check_same_thread=False)
            self._conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise ConfigurationError(
                f"cannot read {str(self.path)!r} as a SQLite database: {exc}"
            ) from None

    def _table_columns(self, table: str) -> set[str]:
        rows = self._conn.execute(f"PRAGMA table_info({quote(table)})").fetchall()
        return {str(row[1]) for row in rows}

    def _scalar(self, sql: str) -> Any:
        return self._conn.execute(sql).fetchone()[0]

    def _stream(self, sql: str, batch_size: int) -> Iterator[Sequence[Any]]:
        cursor = self._conn.execute(sql)
        try:
            while True:
                rows = cursor.fetchmany(batch_size)
                if not rows:
                    return
                yield from rows
        finally:
            cursor.close()

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
