"""Every query the library runs is served by ``firestore.indexes.json``.

The emulator needs no indexes, so nothing else would notice a missing one
before production does. These tests record the structured queries the library
really sends (wrapping the clients' ``RunQuery`` / ``RunAggregationQuery`` calls
and the listeners' query targets) while exercising every listing, search,
analytics and live method on the emulator, derive for each one the index
Firestore needs, and check that:

- a query that needs a composite index has one in the packaged file;
- a query served by single-field indexes does not rely on one that a
  ``fieldOverrides`` exemption removed.

A drift guard makes every public method of the reading classes either exercised
here or listed as running no query that needs an index.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
import pytest
from google.cloud.firestore_v1.watch import Watch

import firestore_verify as fv
from firestore_verify import repositories as repos
from firestore_verify.browser import CollectionBrowser
from firestore_verify.cli import main

ROOT = Path(__file__).resolve().parent.parent
ASC, DESC, CONTAINS = "ASCENDING", "DESCENDING", "CONTAINS"
_EQUALITY = {"EQUAL", "IN", "IS_NULL", "IS_NAN"}
_CONTAINS = {"ARRAY_CONTAINS", "ARRAY_CONTAINS_ANY"}


def packaged_indexes() -> dict[str, Any]:
    text = (resources.files("firestore_verify") / "firestore.indexes.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


# -- what a query needs ------------------------------------------------------------------
@dataclass(frozen=True)
class Need:
    """The index a recorded query needs."""

    collection: str
    #: Equality / array-contains fields: (field, ASC or CONTAINS), in any order in an index.
    equality: frozenset[tuple[str, str]]
    #: The sort the index must have after them (with __name__ when its direction differs).
    sort: tuple[tuple[str, str], ...]

    @property
    def composite(self) -> bool:
        return bool(self.equality and self.sort) or len(self.sort) >= 2

    def __str__(self) -> str:
        eq = ", ".join(f"{f} {k}" for f, k in sorted(self.equality))
        order = ", ".join(f"{f} {d}" for f, d in self.sort)
        return f"{self.collection}: [{eq}] then [{order}]"


def _enum_name(message: Any, field: str) -> str:
    value = getattr(message, field)
    return str(message.DESCRIPTOR.fields_by_name[field].enum_type.values_by_number[value].name)


def _filters(where: Any) -> Iterator[tuple[str, str]]:
    kind = where.WhichOneof("filter_type")
    if kind == "composite_filter":
        assert _enum_name(where.composite_filter, "op") == "AND", "OR queries: extend this test"
        for sub in where.composite_filter.filters:
            yield from _filters(sub)
    elif kind == "field_filter":
        yield where.field_filter.field.field_path, _enum_name(where.field_filter, "op")
    elif kind == "unary_filter":
        yield where.unary_filter.field.field_path, _enum_name(where.unary_filter, "op")


def need_of(structured_query: Any, prefix: str = "", aggregated: tuple[str, ...] = ()) -> Need:
    """Derive the index a ``StructuredQuery`` needs (Firestore's index-selection rules).

    ``aggregated``: the fields a ``sum()`` / ``avg()`` of the query reads. Firestore
    computes them from index entries, so the field must be in the index the query
    scans; this assumes, conservatively, that it comes after the filters and sorts
    (as another sort would).
    """
    pb = getattr(structured_query, "_pb", structured_query)
    assert len(pb.from_) == 1
    assert not pb.from_[0].all_descendants, "collection-group query: extend this test"
    collection = pb.from_[0].collection_id.removeprefix(prefix)
    equality: set[tuple[str, str]] = set()
    inequality: list[str] = []
    for field, op in (_filters(pb.where) if pb.HasField("where") else ()):
        if field == "__name__":
            continue  # key filters use the built-in key index
        if op in _EQUALITY:
            equality.add((field, ASC))
        elif op in _CONTAINS:
            equality.add((field, CONTAINS))
        elif field not in inequality:
            inequality.append(field)
    orders = [(o.field.field_path, _enum_name(o, "direction")) for o in pb.order_by]
    named = {field for field, _ in orders}
    orders += [(field, ASC) for field in sorted(inequality) if field not in named]
    name_direction = orders.pop()[1] if orders and orders[-1][0] == "__name__" else None
    assert all(field != "__name__" for field, _ in orders), "__name__ must sort last"
    orders += [(field, ASC) for field in aggregated if field not in {f for f, _ in orders}]
    sort = tuple(orders)
    if sort and name_direction not in (None, sort[-1][1]):
        sort += (("__name__", name_direction),)
    return Need(collection, frozenset(equality), sort)


def _index_fields(index: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["fieldPath"], f.get("order") or (CONTAINS if f.get("arrayConfig") else "?"))
            for f in index["fields"]]


def _serves(index: dict[str, Any], collection: str, equality: frozenset[tuple[str, str]],
            sort: tuple[tuple[str, str], ...]) -> bool:
    if index["collectionGroup"] != collection or index.get("queryScope") != "COLLECTION":
        return False
    fields = _index_fields(index)
    head, tail = fields[:len(equality)], fields[len(equality):]
    if set(head) != equality:
        return False
    if tail and sort and tail[-1] == ("__name__", sort[-1][1]) and tail[:-1] == list(sort):
        return True
    return tail == list(sort)


def composite_served(need: Need, config: dict[str, Any]) -> bool:
    """Whether an index of ``config`` serves ``need`` (exactly, or by merging per field)."""
    indexes = config["indexes"]
    if any(_serves(i, need.collection, need.equality, need.sort) for i in indexes):
        return True
    # Index merging: one (equality field, sort...) index per equality field.
    return len(need.equality) > 1 and all(
        any(_serves(i, need.collection, frozenset({eq}), need.sort) for i in indexes)
        for eq in need.equality)


def single_field_available(collection: str, field: str, kind: str,
                           config: dict[str, Any]) -> bool:
    """Whether the single-field index (field, ASC/DESC/CONTAINS) exists after the overrides."""
    for override in config.get("fieldOverrides", []):
        if override["collectionGroup"] == collection and override["fieldPath"] == field:
            return any(
                (i.get("order") == kind or (kind == CONTAINS and i.get("arrayConfig")))
                and i.get("queryScope", "COLLECTION") == "COLLECTION"
                for i in override["indexes"])
    return True  # Firestore's default: ascending, descending and array-contains


def problems(need: Need, config: dict[str, Any]) -> list[str]:
    """What ``config`` lacks to serve ``need`` (empty: served)."""
    if need.composite:
        return [] if composite_served(need, config) else [f"no composite index for {need}"]
    wanted = [*need.equality, *need.sort]
    return [f"{need}: single-field index {field} {kind} is exempted"
            for field, kind in wanted
            if not single_field_available(need.collection, field, kind, config)]


# -- the derivation itself ---------------------------------------------------------------
def test_need_of_follows_firestore_rules() -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    client = firestore.Client(project="p", credentials=AnonymousCredentials())  # offline

    def q(*steps: Callable[[Any], Any]) -> Need:
        query: Any = client.collection("c")
        for step in steps:
            query = step(query)
        return need_of(query._to_protobuf())

    eq = lambda f, v: lambda q: q.where(filter=FieldFilter(f, "==", v))  # noqa: E731
    desc = lambda f: lambda q: q.order_by(f, direction="DESCENDING")  # noqa: E731
    asc = lambda f: lambda q: q.order_by(f)  # noqa: E731
    assert not q(eq("a", 1), eq("b", 2)).composite  # equality only: index merging
    assert not q(desc("t")).composite
    assert not q(desc("t"), desc("__name__")).composite
    assert q(desc("t"), asc("__name__")).composite  # __name__ against the sort
    assert q(eq("a", 1), desc("t")) == Need("c", frozenset({("a", ASC)}), (("t", DESC),))
    assert q(asc("x"), asc("y")).composite
    rng = q(eq("e", True), lambda q: q.where(filter=FieldFilter("t", ">=", "a")))
    assert rng == Need("c", frozenset({("e", ASC)}), (("t", ASC),))
    config = {"indexes": [{"collectionGroup": "c", "queryScope": "COLLECTION", "fields": [
        {"fieldPath": "a", "order": "ASCENDING"}, {"fieldPath": "t", "order": "DESCENDING"}]}],
        "fieldOverrides": [{"collectionGroup": "c", "fieldPath": "t", "indexes": []}]}
    assert problems(q(eq("a", 1), desc("t")), config) == []
    assert problems(q(eq("a", 1), asc("t")), config) != []
    assert problems(q(desc("t")), config) != []  # exempted
    assert problems(q(eq("a", 1)), config) == []
    # A sum reads its field from the index scanned: after the filters and sorts.
    summed = need_of(client.collection("c").where(filter=FieldFilter("a", "==", 1))
                     ._to_protobuf(), aggregated=("n",))
    assert summed == Need("c", frozenset({("a", ASC)}), (("n", ASC),))
    assert summed.composite


# -- recording the library's queries ------------------------------------------------------
@dataclass
class Recorded:
    method: str
    need: Need


class Recorder:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.current = "(setup)"
        self.recorded: list[Recorded] = []

    def add(self, structured_query: Any, aggregated: tuple[str, ...] = ()) -> None:
        self.recorded.append(Recorded(self.current,
                                      need_of(structured_query, self.prefix, aggregated)))


def aggregated_fields(aggregation_query: Any) -> tuple[str, ...]:
    """The fields the ``sum()`` / ``avg()`` of a ``StructuredAggregationQuery`` read."""
    pb = getattr(aggregation_query, "_pb", aggregation_query)
    fields = []
    for aggregation in pb.aggregations:
        kind = aggregation.WhichOneof("operator")
        if kind in ("sum", "avg"):
            fields.append(getattr(aggregation, kind).field.field_path)
    return tuple(fields)


@pytest.fixture
async def recorder(store: fv.Store, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder(store.prefix)

    def wrap(api: Any, name: str, key: str) -> None:
        original = getattr(api, name)

        def add(request: Any) -> None:
            value = request[key] if isinstance(request, dict) else getattr(request, key)
            if key != "structured_aggregation_query":
                rec.add(value)
                return
            rec.add(value.structured_query, aggregated_fields(value))

        if inspect.iscoroutinefunction(original):
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                add(kwargs["request"])
                return await original(*args, **kwargs)
            monkeypatch.setattr(api, name, async_wrapper)
        else:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                add(kwargs["request"])
                return original(*args, **kwargs)
            monkeypatch.setattr(api, name, wrapper)

    for client in (store.client, store.sync_client):
        api = client._firestore_api
        wrap(api, "run_query", "structured_query")
        wrap(api, "run_aggregation_query", "structured_aggregation_query")

    original_for_query = Watch.for_query.__func__  # type: ignore[attr-defined]

    def for_query(cls: Any, query: Any, *args: Any) -> Any:
        rec.add(query._to_protobuf())
        return original_for_query(cls, query, *args)

    monkeypatch.setattr(Watch, "for_query", classmethod(for_query))
    return rec


async def first_value(stream: fv.LiveStream[Any]) -> Any:
    async with stream:
        with anyio.fail_after(15):
            return await stream.next()


async def seed(store: fv.Store) -> None:
    now = datetime.now(timezone.utc)
    for gid in (-1001, -1002):
        await store.groups.protect(fv.GroupInfo(id=gid, title=f"Group {gid}"),
                                   fv.OwnerInfo(id=42, username="alice"),
                                   [fv.ChannelInfo(id=gid - 1000, title="News")])
    await store.verifications.write_many([
        fv.Verification(user_id=user, group_id=gid, status=status,
                        occurred_at=now - timedelta(minutes=user))
        for user in range(1, 4) for gid in (-1001, -1002)
        for status in (fv.Status.SUCCESS, fv.Status.FAILED)])
    for uid, role in (("o1", fv.Role.OWNER), ("o2", fv.Role.OWNER), ("v1", fv.Role.VIEWER)):
        await store.admins.create(fv.AdminUser(uid=uid, email=f"{uid}@example.com", role=role))
    for n in range(3):
        await store.audit.record("o1", "config.set", "config", f"k{n}")
    await store.config.set("mode", "strict")


async def pages(list_page: Callable[[str | None], Awaitable[Any]]) -> None:
    """Two pages: the first, and the one its cursor leads to."""
    page = await list_page(None)
    if page.next_cursor is not None:
        await list_page(page.next_cursor)


def exercises(store: fv.Store) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Every reading method, called in every shape that changes its query."""
    statuses: list[str | None] = [None, "failed"]
    groups: list[int | None] = [None, -1001]
    combos = [(s, g) for s in statuses for g in groups]
    browser = CollectionBrowser(store)

    async def feed_latest() -> None:
        for s, g in combos:
            await pages(lambda c, s=s, g=g: store.analytics.activity.latest(
                limit=1, cursor=c, status=s, group_id=g))
            await pages(lambda c, s=s, g=g: store.verifications.latest(
                limit=1, cursor=c, status=s, group_id=g))

    async def feed_watch() -> None:
        for s, g in combos:
            await first_value(store.analytics.activity.watch(limit=2, status=s, group_id=g))

    async def audit_latest() -> None:
        await pages(lambda c: store.audit.latest(limit=1, cursor=c))
        await pages(lambda c: store.audit.latest(limit=1, cursor=c, actor_uid="o1"))
        # The audit pages of the API and the dashboard: every filter combination.
        for where in ({"action": "config.set"}, {"resource_type": "config"},
                      {"actor_uid": "o1", "action": "config.set"},
                      {"actor_uid": "o1", "resource_type": "config"},
                      {"action": "config.set", "resource_type": "config"},
                      {"actor_uid": "o1", "action": "config.set", "resource_type": "config"}):
            await pages(lambda c, w=where: store.audit.latest(limit=1, cursor=c, **w))

    async def group_search() -> None:
        for enabled in (None, True):
            for order in ("title", "created_at", "updated_at", "member_count"):
                for descending in (False, True):
                    await pages(lambda c, e=enabled, o=order, d=descending: store.groups.search(
                        "", enabled=e, order_by=o, descending=d, limit=1, cursor=c))
            await pages(lambda c, e=enabled: store.groups.search(
                "gro", enabled=e, limit=1, cursor=c))
            await store.groups.search("-1001", enabled=enabled)

    async def admin_changes() -> None:
        await store.admins.set_role("v1", fv.Role.ADMIN)
        await store.admins.deactivate("o2")
        await store.admins.activate("o2")
        await store.admins.by_role(fv.Role.OWNER)

    async def analytics() -> None:
        for period in ("24h", "7d", "30d", "90d"):
            await store.analytics.summary(period)
            await store.analytics.compare(period)
            await store.analytics.trend(period)
            await store.analytics.growth(period)
            await store.analytics.report(period)
        await store.analytics.trend("24h", granularity="hour")
        await store.analytics.overview()
        await store.analytics.group(-1001)
        await first_value(store.analytics.watch_overview())
        await store.analytics.channel_today(-2001)

    async def stats() -> None:
        await store.stats.get()
        await store.stats.reconcile()
        await store.stats.refresh_success_rate()
        await first_value(store.stats.watch())

    async def generic_listings() -> None:
        # The shapes the library and its docs use: by id, and groups.watch(enabled=True).
        for repo in (store.groups, store.channels, store.owners, store.admins, store.config,
                     store.audit, store.verifications):
            await pages(lambda c, r=repo: r.list(limit=1, cursor=c))
            await repo.count()
            await first_value(repo.watch())
        await first_value(store.groups.watch(enabled=True))
        await store.groups.count(enabled=True)

    async def browse() -> None:
        await browser.collections(counts=True)
        for name in (await browser.collections()):
            await pages(lambda c, n=name.name: browser.documents(n, limit=1, cursor=c))
        await pages(lambda c: browser.documents("_metadata/stats/shards", limit=1, cursor=c))

    return {
        "Activity.latest": feed_latest, "VerificationRepository.latest": feed_latest,
        "Activity.watch": feed_watch,
        "AuditRepository.latest": audit_latest,
        "GroupRepository.search": group_search,
        "AdminRepository.set_role": admin_changes, "AdminRepository.deactivate": admin_changes,
        "AdminRepository.activate": admin_changes, "AdminRepository.by_role": admin_changes,
        **{f"Analytics.{m}": analytics
           for m in ("summary", "compare", "trend", "growth", "overview", "group",
                     "watch_overview", "channel_today", "report")},
        **{f"StatsRepository.{m}": stats
           for m in ("get", "reconcile", "refresh_success_rate", "watch")},
        **{f"{cls}.{m}": generic_listings
           for cls in ("GroupRepository", "ChannelRepository", "OwnerRepository",
                       "AdminRepository", "ConfigRepository", "AuditRepository",
                       "VerificationRepository")
           for m in ("list", "iterate", "count", "watch")},
        **{f"CollectionBrowser.{m}": browse for m in ("collections", "documents")},
    }


#: Public methods that run no query needing an index: reads by id, writes, helpers.
NO_INDEXED_QUERY = {
    "key", "ref", "find", "get", "get_many", "exists", "watch_document", "create", "update",
    "delete", "logger", "write_many", "protect", "unprotect", "enable", "link_channel",
    "unlink_channel", "record", "record_login", "value", "set", "set_many", "document",
    "subcollections", "overview_expires_at", "set_enabled",
}
READING_CLASSES = (fv.Analytics, fv.Activity, fv.VerificationRepository, fv.StatsRepository,
                   repos.GroupRepository, repos.ChannelRepository, repos.OwnerRepository,
                   repos.AdminRepository, repos.ConfigRepository, repos.AuditRepository,
                   CollectionBrowser)


def test_every_reading_method_is_exercised_or_needs_no_index(store: fv.Store) -> None:
    known = set(exercises(store))
    unclassified = [
        f"{cls.__name__}.{name}"
        for cls in READING_CLASSES
        for name, member in inspect.getmembers(cls, callable)
        if not name.startswith("_") and not isinstance(member, type)
        and f"{cls.__name__}.{name}" not in known and name not in NO_INDEXED_QUERY
    ]
    assert unclassified == [], (
        "exercise these in tests/test_indexes.py::exercises, or add them to NO_INDEXED_QUERY "
        f"if they run no query that needs an index: {unclassified}")


@pytest.mark.anyio
async def test_every_library_query_has_its_index(store: fv.Store, recorder: Recorder) -> None:
    await seed(store)
    config = packaged_indexes()
    done: set[Callable[[], Awaitable[Any]]] = set()
    for name, run in exercises(store).items():
        if run in done:
            continue
        done.add(run)
        recorder.current = name
        await run()
    queried = {r.method for r in recorder.recorded}
    # The recorder really sees the library's queries, live ones included.
    assert {"Activity.latest", "Activity.watch", "GroupRepository.search",
            "Analytics.summary", "StatsRepository.get"} <= queried, queried
    needs = {r.need for r in recorder.recorded}
    assert any(n.composite for n in needs)
    missing = sorted({f"{r.method}: {p}" for r in recorder.recorded
                      for p in problems(r.need, config)})
    assert missing == [], "\n".join(missing)
    # Every composite index in the file is used by some query (none left over).
    used = [i for i in config["indexes"]
            if any(n.composite and _serves(i, n.collection, n.equality, n.sort) for n in needs)]
    assert used == config["indexes"]


def test_root_indexes_file_is_the_packaged_one() -> None:
    # Kept at the repository root for `firebase deploy` from a checkout and the docs.
    root = json.loads((ROOT / "firestore.indexes.json").read_text())
    assert root == packaged_indexes()


def test_exemptions_are_documented() -> None:
    text = (ROOT / "docs" / "deploy-rules.md").read_text()
    for override in packaged_indexes()["fieldOverrides"]:
        assert f"{override['collectionGroup']}.{override['fieldPath']}" in text, override


def test_cli_prints_and_writes_the_indexes(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["indexes"]) == 0
    assert json.loads(capsys.readouterr().out) == packaged_indexes()
    target = tmp_path / "firestore.indexes.json"
    assert main(["indexes", "--output", str(target)]) == 0
    assert json.loads(target.read_text()) == packaged_indexes()


def test_packaged_files_ship_in_the_wheel() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data = project["tool"]["setuptools"]["package-data"]["firestore_verify"]
    assert {"firestore.rules", "firestore.indexes.json"} <= set(data)
