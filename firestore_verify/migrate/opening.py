"""``open_source()``: the legacy database behind a URL, SQLite or PostgreSQL.

Apart from the sources themselves (`sqlite`,
`postgres`) so that they import their base,
`Source`, and nothing imports back.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from firestore_verify.errors import ConfigurationError
from firestore_verify.migrate.postgres import PostgresSource
from firestore_verify.migrate.sources import LegacySource, redact_url
from firestore_verify.migrate.sqlite import SqliteSource

__all__ = ["open_source"]


def open_source(url: str) -> LegacySource:
    """Open the legacy database at ``url`` read-only.

    Raises:
        ConfigurationError: for an unknown scheme, a missing file, a failed
            connection, or PostgreSQL without psycopg installed.
    """
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    base = scheme.split("+", 1)[0]
    if base in ("sqlite", "postgresql", "postgres"):
        try:
            urlsplit(url).port  # noqa: B018 - parsing the port is the check
        except ValueError as exc:
            raise ConfigurationError(
                f"{redact_url(url)!r} is not a valid database URL ({exc}): use "
                "sqlite:///path/to/bot.db or postgresql://user:password@host:5432/dbname."
            ) from None
    if base == "sqlite":
        return SqliteSource(url)
    if base in ("postgresql", "postgres"):
        return PostgresSource(url)
    raise ConfigurationError(
        f"cannot read {redact_url(url)!r}: use sqlite:///path/to/bot.db or "
        "postgresql://user:password@host:5432/dbname."
    )
