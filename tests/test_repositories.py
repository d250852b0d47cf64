"""Every generic repository method, plus the admin, audit and config repositories."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import pytest

import firestore_verify as fv

UTC = timezone.utc

# uid -> (email, role, is_active, telegram_id)
ADMINS: dict[str, tuple[str, fv.Role, bool, int | None]] = {
    "u1": ("erin@x.io", fv.Role.ADMIN, True, 5),
    "u2": ("bob@x.io", fv.Role.VIEWER, True, None),
    "u3": ("dave@x.io", fv.Role.ADMIN, False, 3),
    "u4": ("alice@x.io", fv.Role.OWNER, True, 9),
    "u5": ("carol@x.io", fv.Role.ADMIN, True, None),
    "u6": ("frank@x.io", fv.Role.VIEWER, True, 1),
    "u7": ("gina@x.io", fv.Role.ADMIN, True, 7),
}


async def seed_admins(store: fv.Store) -> None:
    async with anyio.create_task_group() as tg:
        for uid, (email, role, active, telegram_id) in ADMINS.items():
            tg.start_soon(store.admins.create, fv.AdminUser(
                uid=uid, email=email, role=role, is_active=active, telegram_id=telegram_id))


async def all_pages(store: fv.Store, **kwargs: Any) -> tuple[list[str], int]:
    """Every uid, page by page; also how many pages it took."""
    uids: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await store.admins.list(cursor=cursor, **kwargs)
        pages += 1
        uids += [a.uid for a in page]
        assert len(page) <= kwargs.get("limit", 50)
        if page.next_cursor is None:
            return uids, pages
        assert len(page) == kwargs.get("limit", 50)
        cursor = page.next_cursor


# -- reads ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_get_find_exists_get_many(store: fv.Store) -> None:
    created = await store.owners.create(fv.Owner(id=1, username="alice"))
    await store.owners.create({"id": 2})
    assert created.id == 1
    assert created.created_at is not None

    assert await store.owners.get(1) == created
    assert await store.owners.get("1") == created  # ids are strings in Firestore
    assert await store.owners.find(1) == created
    assert await store.owners.find(99) is None
    assert await store.owners.exists(2)
    assert not await store.owners.exists(99)
    with pytest.raises(fv.NotFoundError) as info:
        await store.owners.get(99)
    assert info.value.key == 99
    assert "owner 99 does not exist" in str(info.value)
    assert isinstance(info.value, LookupError)

    many = await store.owners.get_many([1, 2, 99, 1])
    assert set(many) == {"1", "2"}
    assert many["1"] == created
    assert await store.owners.get_many([]) == {}


@pytest.mark.anyio
async def test_list_filters_and_order(store: fv.Store) -> None:
    await seed_admins(store)
    everyone = await store.admins.list()
    assert [a.uid for a in everyone] == sorted(ADMINS)  # by id when not ordered
    assert everyone.next_cursor is None

    admins = await store.admins.list(role=fv.Role.ADMIN)
    assert [a.uid for a in admins] == ["u1", "u3", "u5", "u7"]
    active_admins = await store.admins.list(role="admin", is_active=True)
    assert [a.uid for a in active_admins] == ["u1", "u5", "u7"]

    by_email = await store.admins.list(order_by="email")
    assert [a.email for a in by_email] == sorted(e for e, *_ in ADMINS.values())
    newest = await store.admins.list(order_by="email", descending=True, limit=2)
    assert [a.email for a in newest] == ["gina@x.io", "frank@x.io"]

    high = await store.admins.list(filters=[("telegram_id", ">", 4)], order_by="telegram_id")
    assert [a.telegram_id for a in high] == [5, 7, 9]
    some = await store.admins.list(filters=[("role", "in", [fv.Role.OWNER, fv.Role.VIEWER])])
    assert [a.uid for a in some] == ["u2", "u4", "u6"]
    assert (await store.admins.list(role=fv.Role.OWNER, is_active=False)).items == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filters": [("nope", "==", 1)]}, "no field 'nope'"),
        ({"filters": [("role", "like", "a")]}, "unknown operator 'like'"),
        ({"uid": "u1"}, "no field 'uid'"),  # the id is not a stored field
        ({"order_by": "nope"}, "cannot be ordered by 'nope'"),
        ({"order_by": "uid"}, "cannot be ordered by 'uid'"),
        ({"limit": 0}, "limit must be between 1 and 1000"),
        ({"limit": 1001}, "limit must be between 1 and 1000"),
    ],
)
@pytest.mark.anyio
async def test_list_refuses_bad_arguments(
    store: fv.Store, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(fv.InvalidInputError, match=message):
        await store.admins.list(**kwargs)


@pytest.mark.anyio
async def test_cursor_pagination(store: fv.Store) -> None:
    await seed_admins(store)
    uids, pages = await all_pages(store, limit=3)
    assert (uids, pages) == (sorted(ADMINS), 3)

    # Exactly a multiple of the page size: no empty trailing page.
    uids, pages = await all_pages(store, limit=7)
    assert (uids, pages) == (sorted(ADMINS), 1)

    by_email = sorted(ADMINS, key=lambda u: ADMINS[u][0])
    assert await all_pages(store, limit=2, order_by="email") == (by_email, 4)
    assert await all_pages(store, limit=2, order_by="email", descending=True) == (
        by_email[::-1], 4)

    # Ties on the order field are broken by id, and nulls sort first.
    by_role = sorted(ADMINS, key=lambda u: (ADMINS[u][1].value, u))
    assert await all_pages(store, limit=2, order_by="role") == (by_role, 4)
    by_telegram = sorted(ADMINS, key=lambda u: (ADMINS[u][3] is not None, ADMINS[u][3] or 0, u))
    assert await all_pages(store, limit=3, order_by="telegram_id") == (by_telegram, 3)

    # Filters and order together, over more than one page.
    uids, pages = await all_pages(store, limit=2, order_by="email", role=fv.Role.ADMIN)
    assert uids == [u for u in by_email if ADMINS[u][1] is fv.Role.ADMIN]
    assert pages == 2


@pytest.mark.anyio
async def test_cursor_pagination_on_timestamps(store: fv.Store) -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(5):
        await store.admins.create(fv.AdminUser(
            uid=f"a{i}", email=f"a{i}@x.io", last_login=base + timedelta(microseconds=i * 7)))
    uids, pages = await all_pages(store, limit=2, order_by="last_login", descending=True)
    assert (uids, pages) == (["a4", "a3", "a2", "a1", "a0"], 3)


@pytest.mark.parametrize(
    "cursor",
    ["not base64 at all!!", "", base64.urlsafe_b64encode(b"{}").decode(),
     base64.urlsafe_b64encode(b'["u1", "u2"]').decode(), "e30",
     # Right shape, but no document id where one must be (Firestore would 400).
     base64.urlsafe_b64encode(b"[123]").decode(), base64.urlsafe_b64encode(b"[null]").decode(),
     base64.urlsafe_b64encode(b'["a/b"]').decode(), base64.urlsafe_b64encode(b"[[1]]").decode()],
)
@pytest.mark.anyio
async def test_bad_cursor(store: fv.Store, cursor: str) -> None:
    await seed_admins(store)
    with pytest.raises(fv.InvalidInputError, match="cursor"):
        await store.admins.list(limit=2, cursor=cursor)


@pytest.mark.anyio
async def test_cursor_from_another_ordering_is_refused(store: fv.Store) -> None:
    await seed_admins(store)
    ordered = await store.admins.list(limit=2, order_by="email")
    assert ordered.next_cursor is not None
    with pytest.raises(fv.InvalidInputError, match="same order_by"):
        await store.admins.list(limit=2, cursor=ordered.next_cursor)
    plain = await store.admins.list(limit=2)
    assert plain.next_cursor is not None
    with pytest.raises(fv.InvalidInputError, match="cursor"):
        await store.admins.list(limit=2, cursor=plain.next_cursor, order_by="email")


@pytest.mark.anyio
async def test_iterate_and_count(store: fv.Store) -> None:
    await seed_admins(store)
    assert [a.uid async for a in store.admins.iterate(page_size=2)] == sorted(ADMINS)
    assert [a.uid async for a in store.admins.iterate(page_size=3, order_by="email",
                                                      descending=True, is_active=True)] == [
        "u7", "u6", "u1", "u5", "u2", "u4"]
    assert [a async for a in store.owners.iterate()] == []
    assert await store.admins.count() == 7
    assert await store.admins.count(role=fv.Role.ADMIN) == 4
    assert await store.admins.count(filters=[("telegram_id", ">=", 5)]) == 3
    assert await store.owners.count() == 0


# -- writes --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_create(store: fv.Store) -> None:
    admin = await store.admins.create({"uid": "u1", "email": "a@b.co"})
    assert admin.role is fv.Role.VIEWER
    assert admin.created_at is not None
    with pytest.raises(fv.AlreadyExistsError) as info:
        await store.admins.create(fv.AdminUser(uid="u1", email="other@b.co"))
    assert "already exists" in str(info.value)
    assert (await store.admins.get("u1")).email == "a@b.co"  # untouched
    with pytest.raises(fv.InvalidInputError) as bad:
        await store.admins.create({"uid": "u2", "email": "nope", "role": "god", "x": 1})
    assert {e.split(":")[0] for e in bad.value.errors} == {"email", "role", "x"}
    assert not await store.admins.exists("u2")


@pytest.mark.anyio
async def test_update(store: fv.Store) -> None:
    owner = await store.owners.create(fv.Owner(id=1, username="alice"))
    assert owner.updated_at is not None

    # Unchanged: nothing is written, updated_at stays.
    same = await store.owners.update(1, username="alice", settings={})
    assert same == owner
    assert same.updated_at == owner.updated_at

    await anyio.sleep(0.01)
    changed = await store.owners.update(1, settings={"lang": "de"}, username="@alicia")
    assert changed.username == "alicia"
    assert changed.settings == {"lang": "de"}
    assert changed.created_at == owner.created_at
    assert changed.updated_at is not None
    assert changed.updated_at > owner.updated_at
    assert await store.owners.get(1) == changed

    with pytest.raises(fv.NotFoundError):
        await store.owners.update(2, username="bob_b")
    assert not await store.owners.exists(2)  # update never creates
    with pytest.raises(fv.InvalidInputError, match="no field"):
        await store.owners.update(1, nickname="x")
    with pytest.raises(fv.InvalidInputError) as info:
        await store.owners.update(1, username="!")
    assert info.value.errors[0].startswith("username:")
    for field in ("id", "created_at"):
        with pytest.raises(fv.InvalidInputError, match="cannot be set by update"):
            await store.owners.update(1, **{field: 5})
    assert await store.owners.get(1) == changed


@pytest.mark.anyio
async def test_update_writes_only_named_fields(store: fv.Store) -> None:
    # A field written by another (newer) client survives our updates.
    await store.owners.create(fv.Owner(id=1))
    await store.owners.ref(1).update({"future_field": "keep me"})
    await store.owners.update(1, username="alice")
    raw = (await store.owners.ref(1).get()).to_dict() or {}
    assert raw["future_field"] == "keep me"
    assert raw["username"] == "alice"


@pytest.mark.anyio
async def test_guarded_fields(store: fv.Store) -> None:
    await store.groups.protect(group=fv.GroupInfo(id=-1, title="g"), owner=fv.OwnerInfo(id=1),
                               channels=[fv.ChannelInfo(id=-2, title="c")])
    for field, value in (("enabled", False), ("enforced_channels", [])):
        with pytest.raises(fv.InvalidInputError, match=f"{field}.*cannot be set by update"):
            await store.groups.update(-1, **{field: value})
    with pytest.raises(fv.InvalidInputError, match="linked_groups"):
        await store.channels.update(-2, linked_groups=[])
    group = await store.groups.get(-1)
    assert group.enabled
    assert group.channel_ids == [-2]
    assert (await store.channels.get(-2)).linked_groups == [-1]
    # Ordinary fields still update.
    updated = await store.groups.update(-1, title="renamed", params={"warning_template": "hi"})
    assert (updated.title, updated.params) == ("renamed", {"warning_template": "hi"})


@pytest.mark.anyio
async def test_delete_is_idempotent(store: fv.Store) -> None:
    await store.owners.create(fv.Owner(id=1))
    assert await store.owners.delete(1) is True
    assert await store.owners.delete(1) is False
    assert await store.owners.delete(404) is False
    assert not await store.owners.exists(1)


# -- admin users, audit, config -----------------------------------------------------


@pytest.mark.anyio
async def test_record_login_and_by_role(store: fv.Store) -> None:
    await seed_admins(store)
    assert (await store.admins.get("u1")).last_login is None
    before = datetime.now(UTC) - timedelta(seconds=5)
    admin = await store.admins.record_login("u1")
    assert admin.last_login is not None
    assert before < admin.last_login < datetime.now(UTC) + timedelta(seconds=5)
    assert (await store.admins.get("u1")).last_login == admin.last_login
    with pytest.raises(fv.NotFoundError):
        await store.admins.record_login("ghost")
    assert not await store.admins.exists("ghost")

    assert [a.uid for a in await store.admins.by_role(fv.Role.ADMIN)] == ["u1", "u5", "u7"]
    assert [a.uid for a in await store.admins.by_role(fv.Role.OWNER)] == ["u4"]
    assert len(await store.admins.by_role(fv.Role.ADMIN, limit=2)) == 2


@pytest.mark.anyio
async def test_audit_record_and_latest(store: fv.Store) -> None:
    recorded = []
    for i in range(5):
        recorded.append(await store.audit.record(
            "u1" if i % 2 else "u2", f"action.{i}", "group", str(-i - 1),
            old_value={"n": i}, new_value={"n": i + 1}, ip_address="10.0.0.1"))
    assert all(e.created_at is not None for e in recorded)
    assert len({e.id for e in recorded}) == 5

    latest = await store.audit.latest()
    assert [e.action for e in latest] == [f"action.{i}" for i in reversed(range(5))]
    assert latest.items[0] == recorded[-1]
    assert latest.items[0].old_value == {"n": 4}

    first = await store.audit.latest(limit=2)
    assert [e.action for e in first] == ["action.4", "action.3"]
    rest = await store.audit.latest(limit=10, cursor=first.next_cursor)
    assert [e.action for e in rest] == ["action.2", "action.1", "action.0"]
    assert rest.next_cursor is None

    mine = await store.audit.latest(actor_uid="u1")
    assert [e.action for e in mine] == ["action.3", "action.1"]
    with pytest.raises(fv.InvalidInputError):
        await store.audit.record("", "x", "group")


@pytest.mark.anyio
async def test_config_set_and_value(store: fv.Store) -> None:
    assert await store.config.value("cache.ttl") is None
    assert await store.config.value("cache.ttl", 30) == 30

    entry = await store.config.set("cache.ttl", 60, updated_by="u1",
                                   description="seconds", is_sensitive=True)
    assert (entry.value, entry.description, entry.is_sensitive, entry.updated_by) == (
        60, "seconds", True, "u1")
    assert entry.updated_at is not None
    assert await store.config.value("cache.ttl", 30) == 60

    await anyio.sleep(0.01)
    again = await store.config.set("cache.ttl", {"positive": 60, "negative": 5}, updated_by="u2")
    assert again.value == {"positive": 60, "negative": 5}
    assert (again.description, again.is_sensitive) == ("seconds", True)  # kept
    assert again.updated_by == "u2"
    assert again.updated_at is not None
    assert again.updated_at > entry.updated_at
    assert await store.config.count() == 1

    falsy = await store.config.set("flag", False)
    assert falsy.value is False
    assert await store.config.value("flag", True) is False
    with pytest.raises(fv.InvalidInputError):
        await store.config.set("bad key!", 1)


@pytest.mark.anyio
async def test_a_cancelled_transaction_is_a_cancellation(store: fv.Store) -> None:
    """Cancelled while beginning, google's shell raises ValueError; we let the cancel through."""
    cancelled = 0
    for delay in (0, 0.0005, 0.001, 0.002, 0.005):  # land in different phases of the call
        with anyio.move_on_after(delay) as scope:
            await store.groups.protect(fv.GroupInfo(id=-1001, title="Chat"),
                                       fv.OwnerInfo(id=42))
        cancelled += scope.cancelled_caught
    assert cancelled >= 1  # at least one was cut short, and only ever as a cancellation
    # Nothing half-applied: the group and its counter agree. (Plain reads take no lock:
    # a read cancelled in flight can still leave one on the emulator for about a
    # minute, which a transaction on the same group would wait out.)
    stored = await store.groups.find(-1001)
    assert (await store.stats.get()).total_groups == (1 if stored is not None else 0)
    # And the store goes on working: another group is protected and counted.
    await store.groups.protect(fv.GroupInfo(id=-1002, title="Other"), fv.OwnerInfo(id=43))
    assert (await store.stats.get()).total_groups == (2 if stored is not None else 1)


@pytest.mark.anyio
async def test_a_filter_beyond_64_bits_is_bad_input(store: fv.Store) -> None:
    with pytest.raises(fv.InvalidInputError, match="64-bit"):
        await store.verifications.latest(group_id=-(2**63) - 1)
    with pytest.raises(fv.InvalidInputError, match="64-bit"):
        await store.groups.list(filters=[("owner_id", "in", [1, 2**64])])
