"""Fixtures for the SQL migration tests: legacy databases on SQLite and a real PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import legacy_schema
import pg_server
import pytest
from legacy_schema import BuildLegacy, LegacyDb

REQUIRE_ENV_VAR = "FIRESTORE_VERIFY_REQUIRE_EMULATOR"


@pytest.fixture(scope="session")
def postgres() -> Iterator[pg_server.PostgresServer]:
    """A PostgreSQL server for the whole session (skipped, or failed under REQUIRE, if none)."""
    try:
        server = pg_server.start()
    except pg_server.PostgresUnavailable as exc:
        if os.environ.get(REQUIRE_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}:
            pytest.fail(f"{exc} ({REQUIRE_ENV_VAR} is set, so this fails instead of skipping)",
                        pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_database(postgres: pg_server.PostgresServer) -> Iterator[str]:
    """A fresh empty database on the session server; its URL. Dropped afterwards."""
    import psycopg

    name = f"legacy_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}".encode())
    yield postgres.url(name)
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


@pytest.fixture(params=["sqlite", "postgresql"])
def make_legacy(request: pytest.FixtureRequest, tmp_path: Path) -> BuildLegacy:
    """A builder of legacy databases on both dialects: ``make_legacy(old=False, events=3000)``."""
    dialect: str = request.param

    def build(**options: object) -> LegacyDb:
        if dialect == "sqlite":
            path = tmp_path / f"legacy-{uuid.uuid4().hex[:8]}.db"
            conn = sqlite3.connect(path)
            expected = legacy_schema.build(conn, "sqlite", **options)  # type: ignore[arg-type]
            conn.close()
            return LegacyDb(f"sqlite:///{path}", "sqlite", expected)
        import psycopg

        url = request.getfixturevalue("postgres_database")
        with psycopg.connect(url) as conn:
            expected = legacy_schema.build(conn, "postgresql", **options)  # type: ignore[arg-type]
        return LegacyDb(url, "postgresql", expected)

    return build
