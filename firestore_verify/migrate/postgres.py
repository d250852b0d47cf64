"""Read a legacy PostgreSQL database through psycopg 3 (the ``postgres`` extra).

All reads run in one read-only ``REPEATABLE READ`` transaction, so every table
is seen at the same instant even while the bot keeps writing, and big tables
stream through server-side cursors, ``batch_size`` rows at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from firestore_verify.errors import ConfigurationError
from firestore_verify.migrate.sources import LegacySource

__all__ = ["PostgresSource", "libpq_url"]

_INSTALL_HINT = (
    "reading PostgreSQL needs psycopg: pip install 'firestore-verify[postgres]'"
)
_cursor_ids = itertools.count(1)


def _json_text(data: str | bytes) -> str:
    return data.decode("utf-8") if isinstance(data, bytes) else data


def libpq_url(url: str) -> str:
    """``url`` without a SQLAlchemy driver suffix (``postgresql+asyncpg://`` -> ``postgresql://``)."""
    scheme, rest = url.split(":", 1)
    return scheme.split("+", 1)[0].lower() + ":" + rest


class PostgresSource(LegacySource):
    """A legacy PostgreSQL database, read in one read-only snapshot."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        try:
            import psycopg
            from psycopg.types.json import set_json_loads
        except ImportError:
            raise ConfigurationError(_INSTALL_HINT) from None
        try:
            self._conn = psycopg.connect(libpq_url(url), connect_timeout=15)
        except psycopg.Error as exc:
            # libpq's messages span lines ("...refused\n\tIs the server running..."): one line.
            lines = str(exc).replace(url, self.url).splitlines()
            message = "; ".join(line.strip() for line in lines if line.strip())
            raise ConfigurationError(f"cannot connect to {self.url}: {message}") from None
        self._conn.read_only = True
        self._conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        # Hand JSON over as text: a JSON string and a text column must not look alike,
        # and values.to_json parses (and reports) every JSON column the same way.
        set_json_loads(_json_text, self._conn)

    def _table_columns(self, table: str) -> set[str]:
        rows = self._conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = %s AND table_schema = ANY(current_schemas(false))",
            (table,),
        ).fetchall()
        return {str(row[0]) for row in rows}

    def _scalar(self, sql: str) -> Any:
        row = self._conn.execute(sql.encode()).fetchone()
        return None if row is None else row[0]

    def _stream(self, sql: str, batch_size: int) -> Iterator[Sequence[Any]]:
        # A named cursor is a server-side cursor: rows cross the wire batch by batch.
        with self._conn.cursor(name=f"fv_migrate_{next(_cursor_ids)}") as cursor:
            cursor.itersize = batch_size
            cursor.execute(sql.encode())
            while True:
                rows = cursor.fetchmany(batch_size)
                if not rows:
                    return
                yield from rows

    def close(self) -> None:
        """End the read-only transaction and close the connection."""
        if not self._conn.closed:
            self._conn.rollback()
            self._conn.close()
