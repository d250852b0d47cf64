"""The legacy bot schema (DDL for SQLite and PostgreSQL) and realistic data with bad rows.

:func:`build` creates the tables in a DB-API connection and fills them;
it returns an :class:`Expected` describing what a correct migration gives:
the good rows, the bad rows (table, key), channel sets, event counts. The
"old" variant lacks ``member_count`` / ``subscriber_count`` / ``last_sync_at``
and the whole ``verification_log`` table, as early deployments do.

Values are stored the way SQLAlchemy stores them: on SQLite, timestamps are
naive ``YYYY-MM-DD HH:MM:SS.ffffff`` text, booleans 0/1, UUIDs 32 hex digits,
JSON text; on PostgreSQL, native types (``json``, ``uuid``, ``timestamptz``,
and a naive ``timestamp`` for the verification log).
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

TYPES = {
    "sqlite": {"bigint": "BIGINT", "json": "JSON", "ts": "DATETIME", "naive_ts": "DATETIME",
               "bool": "BOOLEAN", "uuid": "CHAR(32)",
               "serial": "INTEGER PRIMARY KEY AUTOINCREMENT"},
    "postgresql": {"bigint": "BIGINT", "json": "JSON", "ts": "TIMESTAMP WITH TIME ZONE",
                   "naive_ts": "TIMESTAMP WITHOUT TIME ZONE", "bool": "BOOLEAN", "uuid": "UUID",
                   "serial": "SERIAL PRIMARY KEY"},
}

DDL = {
    "owners": """CREATE TABLE owners (
        user_id {bigint} PRIMARY KEY, username VARCHAR(255),
        created_at {ts}, updated_at {ts})""",
    "protected_groups": """CREATE TABLE protected_groups (
        group_id {bigint} PRIMARY KEY,
        owner_id {bigint} REFERENCES owners(user_id) ON DELETE CASCADE,
        title VARCHAR(255), enabled {bool} DEFAULT TRUE, params {json},
        {new_group_columns} created_at {ts}, updated_at {ts})""",
    "enforced_channels": """CREATE TABLE enforced_channels (
        channel_id {bigint} PRIMARY KEY, title VARCHAR(255), username VARCHAR(255),
        invite_link TEXT, {new_channel_columns} created_at {ts}, updated_at {ts})""",
    "group_channel_links": """CREATE TABLE group_channel_links (
        id {serial},
        group_id {bigint} REFERENCES protected_groups(group_id) ON DELETE CASCADE,
        channel_id {bigint} REFERENCES enforced_channels(channel_id) ON DELETE CASCADE,
        created_at {ts}, CONSTRAINT uq_group_channel UNIQUE (group_id, channel_id))""",
    "verification_log": """CREATE TABLE verification_log (
        id {serial}, user_id {bigint} NOT NULL, group_id {bigint} NOT NULL,
        channel_id {bigint}, status VARCHAR(20) NOT NULL, latency_ms INTEGER,
        cached {bool} DEFAULT FALSE, error_type VARCHAR(50), timestamp {naive_ts})""",
    "admin_users": """CREATE TABLE admin_users (
        id {uuid} PRIMARY KEY, firebase_uid VARCHAR(128) UNIQUE, email VARCHAR(255) NOT NULL,
        password_hash VARCHAR(255), full_name VARCHAR(255), role VARCHAR(50),
        is_active {bool} DEFAULT TRUE, telegram_id {bigint}, created_at {ts}, updated_at {ts},
        last_login {ts})""",
    "admin_audit_log": """CREATE TABLE admin_audit_log (
        id {uuid} PRIMARY KEY, user_id {uuid} REFERENCES admin_users(id),
        action VARCHAR(100) NOT NULL, resource_type VARCHAR(50) NOT NULL,
        resource_id VARCHAR(100), old_value {json}, new_value {json},
        ip_address VARCHAR(45), user_agent TEXT, created_at {ts})""",
    "admin_config": """CREATE TABLE admin_config (
        key VARCHAR(100) PRIMARY KEY, value {json}, description TEXT,
        is_sensitive {bool} DEFAULT FALSE, updated_by VARCHAR(128), updated_at {ts})""",
    "admin_sessions": """CREATE TABLE admin_sessions (
        id {uuid} PRIMARY KEY, user_id {uuid}, refresh_token TEXT, expires_at {ts})""",
    "api_call_log": """CREATE TABLE api_call_log (
        id {serial}, method VARCHAR(50), chat_id {bigint}, user_id {bigint}, success {bool},
        latency_ms INTEGER, error_type VARCHAR(50), timestamp {ts})""",
}

START = datetime(2024, 5, 1, tzinfo=timezone.utc)
DAYS = 5


@dataclass
class Expected:
    """What a correct migration of the generated data gives."""

    good: Counter[str] = field(default_factory=Counter)
    #: (table, key) of every bad row, keys as the report writes them.
    bad: set[tuple[str, Any]] = field(default_factory=set)
    enabled_groups: int = 0
    #: group id -> channel ids
    channel_sets: dict[int, set[int]] = field(default_factory=dict)
    events_by_status: Counter[str] = field(default_factory=Counter)
    events_by_day: Counter[str] = field(default_factory=Counter)
    users: set[int] = field(default_factory=set)
    links: int = 0
    admin_uids: list[str] = field(default_factory=list)


@dataclass
class LegacyDb:
    """A legacy database the tests built: its URL, dialect and what migrating it gives."""

    url: str
    dialect: str
    expected: Expected

    def connect(self) -> object:
        """A new DB-API connection to it (for mutating the source in tests)."""
        if self.dialect == "sqlite":
            return sqlite3.connect(self.url.removeprefix("sqlite:///"))
        import psycopg

        return psycopg.connect(self.url)

    @property
    def mark(self) -> str:
        """The parameter placeholder of the dialect."""
        return "?" if self.dialect == "sqlite" else "%s"


#: ``make_legacy(old=False, events=3000, ...)``: builds a legacy database, see conftest.py.
BuildLegacy = Callable[..., LegacyDb]


class _Db:
    def __init__(self, conn: Any, dialect: str) -> None:
        self.conn, self.dialect = conn, dialect
        self.mark = "?" if dialect == "sqlite" else "%s"

    def ts(self, moment: datetime | None, *, naive: bool = False, aware: bool = False) -> Any:
        if moment is None:
            return None
        if self.dialect == "postgresql":
            return moment.replace(tzinfo=None) if naive else moment
        if aware:
            return moment.isoformat(sep=" ")
        return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(
            sep=" ", timespec="microseconds")

    def json(self, value: Any, raw: str | None = None) -> Any:
        if raw is not None:
            return raw
        if value is None:
            return None
        if self.dialect == "postgresql":
            from psycopg.types.json import Json

            return Json(value)
        return json.dumps(value)

    def uuid(self, value: uuid.UUID | None) -> Any:
        if value is None:
            return None
        return value if self.dialect == "postgresql" else value.hex

    def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        columns = list(rows[0])
        sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
               f"({', '.join([self.mark] * len(columns))})")
        cursor = self.conn.cursor()
        cursor.executemany(sql, [tuple(r[c] for c in columns) for r in rows])
        cursor.close()


def create_schema(conn: Any, dialect: str, *, old: bool = False) -> None:
    """Create the legacy tables (the old variant lacks the newer columns and the log)."""
    types = dict(TYPES[dialect])
    types["new_group_columns"] = "" if old else "member_count INTEGER DEFAULT 0, last_sync_at {ts},"
    types["new_channel_columns"] = ("" if old else
                                    "subscriber_count INTEGER DEFAULT 0, last_sync_at {ts},")
    cursor = conn.cursor()
    for table, ddl in DDL.items():
        if old and table == "verification_log":
            continue
        text = ddl.format(**types)
        cursor.execute(text.format(**types) if "{" in text else text)
    cursor.close()
    conn.commit()


def build(conn: Any, dialect: str, *, old: bool = False, events: int = 3000,
          users: int = 400, days: int = DAYS, seed: int = 7) -> Expected:
    """Create the schema and fill it; return what a correct migration gives.

    ``events`` verification rows by ``users`` users over ``days`` UTC days.
    """
    create_schema(conn, dialect, old=old)
    if dialect == "postgresql":
        # Dangling foreign keys exist in real databases (restored dumps, dropped
        # constraints); let them in, as such a database would have them.
        conn.execute("SET session_replication_role = replica")
    db = _Db(conn, dialect)
    rng = random.Random(seed)
    exp = Expected()
    _owners(db, exp)
    channels = _channels(db, exp, old)
    groups = _groups(db, exp, old, rng)
    _links(db, exp, groups, channels, rng)
    admins = _admins(db, exp)
    _audit(db, exp, admins, rng)
    _config(db, exp)
    db.insert("admin_sessions", [{"id": db.uuid(uuid.uuid4()), "user_id": db.uuid(admins[0]),
                                  "refresh_token": "secret", "expires_at": db.ts(START)}])
    if not old:
        _events(db, exp, groups, events, rng, users=users, days=days)
    conn.commit()
    return exp


def _owners(db: _Db, exp: Expected) -> None:
    rows = [{"user_id": 1000 + i, "username": f"owner_{i}" if i % 4 else None,
             "created_at": db.ts(START - timedelta(days=90 - i)),
             "updated_at": db.ts(START - timedelta(days=10), aware=i % 2 == 0)}
            for i in range(30)]
    exp.good["owners"] = len(rows)
    rows.append({"user_id": 0, "username": "zero_user", "created_at": None, "updated_at": None})
    rows.append({"user_id": -5, "username": "negative", "created_at": None, "updated_at": None})
    exp.bad |= {("owners", 0), ("owners", -5)}
    db.insert("owners", rows)


def _channels(db: _Db, exp: Expected, old: bool) -> list[int]:
    ids = [-1002000000000 - i for i in range(40)]
    rows = []
    for i, channel_id in enumerate(ids):
        row = {"channel_id": channel_id, "title": f"News {i}",
               "username": f"news_channel_{i}" if i % 3 else None,
               "invite_link": f"https://t.me/+inv{i:04d}" if i % 2 else None,
               "created_at": db.ts(START - timedelta(days=60)), "updated_at": db.ts(START)}
        if not old:
            row["subscriber_count"] = 1000 * i
            row["last_sync_at"] = db.ts(START)
        rows.append(row)
    exp.good["enforced_channels"] = len(rows)
    for channel_id, title in ((-1002999000001, ""), (12345, "Positive id"),
                              (-1002999000003, None)):
        row = {**rows[0], "channel_id": channel_id, "title": title}
        rows.append(row)
        exp.bad.add(("enforced_channels", channel_id))
    db.insert("enforced_channels", rows)
    return ids


def _groups(db: _Db, exp: Expected, old: bool, rng: random.Random) -> list[int]:
    ids = [-1001000000000 - i for i in range(60)]
    rows = []
    for i, group_id in enumerate(ids):
        params = None if i % 5 == 0 else {"warning_template": f"Join {{channels}} ({i})",
                                          "mute_minutes": 5 + i, "strict": i % 2 == 0}
        row = {"group_id": group_id, "owner_id": 1000 + i % 30, "title": f"Group {i}",
               "enabled": i % 7 != 0, "params": db.json(params),
               "created_at": db.ts(START - timedelta(days=50)),
               "updated_at": db.ts(START - timedelta(hours=i))}
        if not old:
            row["member_count"] = rng.randint(10, 5000)
            row["last_sync_at"] = db.ts(START)
        rows.append(row)
        exp.enabled_groups += bool(i % 7 != 0)
    exp.good["protected_groups"] = len(rows)
    bad_json = "{not json" if db.dialect == "sqlite" else None
    bad = [
        (4242, {"owner_id": 1000}),                         # positive group id
        (-1001999000002, {"owner_id": 999_999}),            # dangling owner
        (-1001999000003, {"owner_id": 0}),                  # owner is a bad row
        (-1001999000004, {"title": "  "}),                  # empty title
        (-1001999000005, {"params": db.json([1, 2], bad_json)}),  # invalid / non-object JSON
    ]
    for group_id, change in bad:
        rows.append({**rows[1], "group_id": group_id, **change})
        exp.bad.add(("protected_groups", group_id))
    db.insert("protected_groups", rows)
    return ids


def _links(db: _Db, exp: Expected, groups: list[int], channels: list[int],
           rng: random.Random) -> None:
    rows = []
    for group_id in groups:
        chosen = rng.sample(channels[:30], rng.randint(1, 4))
        exp.channel_sets[group_id] = set(chosen)
        rows.extend({"group_id": group_id, "channel_id": c, "created_at": db.ts(START)}
                    for c in chosen)
    exp.good["group_channel_links"] = exp.links = len(rows)
    bad = [(4242, channels[0]), (-1009999999999, channels[0]), (groups[0], 12345),
           (groups[0], -1002888888888), (-1001999000003, channels[1])]
    for group_id, channel_id in bad:
        rows.append({"group_id": group_id, "channel_id": channel_id, "created_at": None})
    db.insert("group_channel_links", rows)
    first_bad = exp.links + 1
    exp.bad |= {("group_channel_links", first_bad + i) for i in range(len(bad))}


def _admins(db: _Db, exp: Expected) -> list[uuid.UUID]:
    roles = ["super_admin", "admin", "viewer", "ADMIN", "owner"]
    ids = [uuid.UUID(int=0xA000 + i) for i in range(7)]
    rows = []
    for i, role in enumerate(roles):
        uid = f"firebase-uid-{i}"
        exp.admin_uids.append(uid)
        rows.append({"id": db.uuid(ids[i]), "firebase_uid": uid, "email": f"admin{i}@example.com",
                     "password_hash": "$2b$12$secrethash", "full_name": f"Admin {i}",
                     "role": role, "is_active": i != 3, "telegram_id": 5000 + i if i % 2 else None,
                     "created_at": db.ts(START - timedelta(days=100)),
                     "updated_at": db.ts(START), "last_login": db.ts(START + timedelta(hours=i))})
    exp.good["admin_users"] = len(rows)
    rows.append({**rows[0], "id": db.uuid(ids[5]), "firebase_uid": None,
                 "email": "nouid@example.com"})
    rows.append({**rows[0], "id": db.uuid(ids[6]), "firebase_uid": "firebase-uid-x",
                 "email": "janitor@example.com", "role": "janitor"})
    exp.bad |= {("admin_users", db.uuid(ids[5]) if db.dialect == "sqlite" else str(ids[5])),
                ("admin_users", db.uuid(ids[6]) if db.dialect == "sqlite" else str(ids[6]))}
    db.insert("admin_users", rows)
    return ids


def _audit(db: _Db, exp: Expected, admins: list[uuid.UUID], rng: random.Random) -> None:
    rows = []
    for i in range(20):
        rows.append({"id": db.uuid(uuid.UUID(int=0xB000 + i)), "user_id": db.uuid(admins[i % 5]),
                     "action": rng.choice(["group.update", "config.set", "channel.link"]),
                     "resource_type": "group", "resource_id": str(-1001000000000 - i),
                     "old_value": db.json({"enabled": True, "n": i}),
                     "new_value": db.json({"enabled": False, "tags": ["a", "b"]}),
                     "ip_address": "10.0.0.1", "user_agent": "Mozilla/5.0",
                     "created_at": db.ts(START + timedelta(minutes=i))})
    exp.good["admin_audit_log"] = len(rows)
    unstorable = "{broken" if db.dialect == "sqlite" else None
    bad = [
        (uuid.UUID(int=0xBF01), {"user_id": db.uuid(admins[5])}),      # admin without uid
        (uuid.UUID(int=0xBF02), {"user_id": db.uuid(uuid.UUID(int=0xDEAD))}),  # dangling
        (uuid.UUID(int=0xBF03), {"new_value": db.json([[1, 2]], unstorable)}),  # bad JSON
    ]
    for key, change in bad:
        rows.append({**rows[0], "id": db.uuid(key), **change})
        exp.bad.add(("admin_audit_log", db.uuid(key) if db.dialect == "sqlite" else str(key)))
    db.insert("admin_audit_log", rows)


def _config(db: _Db, exp: Expected) -> None:
    values = {"cache_ttl": 300, "welcome_text": "Hello!", "features": {"analytics": True},
              "admins": [1, 2, 3], "bot_token": "123:ABC", "maintenance": False}
    rows = [{"key": key, "value": db.json(value), "description": f"the {key}",
             "is_sensitive": key == "bot_token", "updated_by": "firebase-uid-0",
             "updated_at": db.ts(START)} for key, value in values.items()]
    exp.good["admin_config"] = len(rows)
    rows.append({**rows[0], "key": "bad key"})
    rows.append({**rows[0], "key": "broken_value",
                 "value": "{oops" if db.dialect == "sqlite" else db.json([[1], [2]])})
    exp.bad |= {("admin_config", "bad key"), ("admin_config", "broken_value")}
    db.insert("admin_config", rows)


def _events(db: _Db, exp: Expected, groups: list[int], count: int, rng: random.Random,
            *, users: int, days: int) -> None:
    statuses = ["verified"] * 6 + ["restricted"] * 3 + ["error"]
    mapped = {"verified": "success", "restricted": "failed", "error": "error"}
    rows = []
    for _ in range(count):
        # Over `days` days, some right around midnight UTC.
        moment = START + timedelta(seconds=rng.randint(0, days * 86400 - 1))
        status = rng.choice(statuses)
        user = rng.randint(1, users)
        # A few events of groups no longer in protected_groups: history, still valid.
        group = rng.choice(groups) if rng.random() > 0.02 else -1001777000000
        rows.append({"user_id": user, "group_id": group, "channel_id": -1002000000000,
                     "status": status, "latency_ms": rng.randint(5, 900),
                     "cached": rng.random() < 0.3,
                     "error_type": "TelegramTimeout" if status == "error" else None,
                     "timestamp": db.ts(moment, naive=True)})
        exp.events_by_status[mapped[status]] += 1
        exp.events_by_day[moment.strftime("%Y-%m-%d")] += 1
        exp.users.add(user)
    exp.good["verification_log"] = len(rows)
    db.insert("verification_log", rows)
    changes = [{"status": "pending"}, {"user_id": 0}, {"group_id": 555}, {"timestamp": None}]
    first = {"user_id": 1, "group_id": groups[0], "channel_id": None, "status": "verified",
             "latency_ms": None, "cached": False, "error_type": None,
             "timestamp": db.ts(START, naive=True)}
    db.insert("verification_log", [{**first, **change} for change in changes])
    exp.bad |= {("verification_log", count + 1 + i) for i in range(len(changes))}
