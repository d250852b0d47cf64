"""Legacy SQL sources: the base class; rows stream in bounded memory.

``sqlite:///relative.db``, ``sqlite:////absolute.db`` and
``postgresql://user:password@host:port/db`` are understood, SQLAlchemy driver
suffixes included (``postgresql+asyncpg://``, ``sqlite+aiosqlite://``), so a
bot's existing ``DATABASE_URL`` can be passed as is. Sources are opened
read-only.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from firestore_verify.errors import ConfigurationError
from firestore_verify.migrate.schema import LEGACY_TABLES, LegacyTable

__all__ = ["LegacySource", "batched", "quote", "redact_url"]

T = TypeVar("T")


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs and reports)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        # Unparseable (``[::1`` without its bracket): hide all of user:password to be safe.
        scheme, sep, rest = url.partition("://")
        if not sep or "@" not in rest:
            return url
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    if password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


def quote(identifier: str) -> str:
    """``identifier`` double-quoted for SQL (both SQLite and PostgreSQL)."""
    return '"' + identifier.replace('"', '""') + '"'


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last may be shorter)."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk



class LegacySource(abc.ABC):
    """A legacy database, read-only. Subclasses implement the four primitives."""

    #: ``"sqlite"`` or ``"postgresql"``.
    dialect: str = ""

    def __init__(self, url: str) -> None:
        #: The URL with its password redacted, safe to print.
        self.url = redact_url(url)
        self._columns: dict[str, set[str]] = {}

    @abc.abstractmethod
    def _table_columns(self, table: str) -> set[str]:
        """The column names of ``table`` (empty when the table does not exist)."""

    @abc.abstractmethod
    def _scalar(self, sql: str) -> Any:
        """The first value of the first row of ``sql``."""

    @abc.abstractmethod
    def _stream(self, sql: str, batch_size: int) -> Iterator[Sequence[Any]]:
        """The rows of ``sql``, fetched ``batch_size`` at a time (never all at once)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection."""

    def columns(self, table: str) -> set[str]:
        """The column names of ``table``, lower-cased (empty when it does not exist)."""
        if table not in self._columns:
            self._columns[table] = {c.lower() for c in self._table_columns(table)}
        return self._columns[table]

    def has_table(self, table: str) -> bool:
        """Whether ``table`` exists in the source."""
        return bool(self.columns(table))

    def missing_required(self, spec: LegacyTable) -> list[str]:
        """Required columns of ``spec`` that the source table lacks."""
        present = self.columns(spec.name)
        return [c for c in spec.required if c not in present]

    def check_schema(self) -> None:
        """Raise unless this is the legacy bot's database: before anything is written.

        At least one legacy table must exist, and every one that does must have
        its required columns (a wrong column found half way would leave a
        partial migration behind).

        Raises:
            ConfigurationError: naming what is missing.
        """
        present = [name for name in LEGACY_TABLES if self.has_table(name)]
        if not present:
            raise ConfigurationError(
                f"{self.url} has none of the legacy bot's tables "
                f"({', '.join(LEGACY_TABLES)}): is it the bot's database? (An empty or "
                "new file has no tables: point the URL at the database the bot writes.)"
            )
        problems = [f"{name} lacks {', '.join(missing)}" for name in present
                    if (missing := self.missing_required(LEGACY_TABLES[name]))]
        if problems:
            raise ConfigurationError(
                f"{self.url} is not the legacy bot schema: {'; '.join(problems)}. "
                "Upgrade it with the bot's own migrations first."
            )

    def count(self, spec: LegacyTable) -> int:
        """How many rows ``spec``'s table holds (0 when it does not exist)."""
        if not self.has_table(spec.name):
            return 0
        return int(self._scalar(f"SELECT COUNT(*) FROM {quote(spec.name)}"))

    def rows(self, spec: LegacyTable, batch_size: int = 500) -> Iterator[dict[str, Any]]:
        """Stream ``spec``'s rows as dicts of every column it lists.

        Optional columns the table lacks (older deployments) come back ``None``.

        Raises:
            ConfigurationError: when a required column is missing.
        """
        if not self.has_table(spec.name):
            return
        missing = self.missing_required(spec)
        if missing:
            raise ConfigurationError(
                f"table {spec.name!r} in {self.url} has no column(s) {', '.join(missing)}: "
                "is this the legacy bot schema? Upgrade it with the bot's own migrations first."
            )
        present = [c for c in spec.columns if c in self.columns(spec.name)]
        absent = dict.fromkeys((c for c in spec.columns if c not in present), None)
        order = ", ".join(quote(c) for c in spec.order_by if c in present)
        sql = (f"SELECT {', '.join(quote(c) for c in present)} FROM {quote(spec.name)}"
               f" ORDER BY {order}")
        for values in self._stream(sql, batch_size):
            row = dict(zip(present, values, strict=True))
            row.update(absent)
            yield row

    def __enter__(self) -> LegacySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
