"""Store isolation: prefixes, projects and databases never see each other."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

import firestore_verify as fv
from firestore_verify.testing import FirestoreEmulator


@pytest.fixture
def other_project(firestore_emulator: FirestoreEmulator) -> Iterator[str]:
    project = f"test-{uuid.uuid4().hex[:16]}"
    yield project
    firestore_emulator.wipe(project)


async def _protect_one(store: fv.Store, group_id: int, channel_id: int) -> None:
    await store.groups.protect(
        group=fv.GroupInfo(id=group_id, title=f"group {group_id}"),
        owner=fv.OwnerInfo(id=42, username="alice"),
        channels=[fv.ChannelInfo(id=channel_id, title=f"channel {channel_id}")],
    )


@pytest.fixture
async def prefixed(
    firestore_emulator: FirestoreEmulator, firestore_project: str
) -> AsyncIterator[fv.Store]:
    async with await fv.connect(project=firestore_project, prefix="staging_",
                                emulator_host=firestore_emulator.host) as store:
        yield store


@pytest.mark.anyio
async def test_prefixes_do_not_see_each_other(store: fv.Store, prefixed: fv.Store) -> None:
    assert store.project == prefixed.project
    await _protect_one(store, -1001, -2001)
    await _protect_one(prefixed, -1002, -2002)
    await prefixed.config.set("mode", "staging")

    assert [g.id for g in (await store.groups.list()).items] == [-1001]
    assert [g.id for g in (await prefixed.groups.list()).items] == [-1002]
    assert not await store.groups.exists(-1002)
    assert not await prefixed.channels.exists(-2001)
    assert await store.config.value("mode") is None
    assert await prefixed.config.value("mode") == "staging"
    assert (await store.stats.get()).total_groups == 1
    assert (await prefixed.stats.get()).total_groups == 1

    # The prefix is really on the collection names other clients read.
    raw = await store.client.collection("staging_protected_groups").document("-1002").get()
    assert raw.exists
    assert (await store.client.collection("staging__metadata").document("stats").get()).exists

    # Deleting in one store leaves the other alone.
    assert await prefixed.groups.delete(-1002)
    assert await store.groups.exists(-1001)
    assert (await store.stats.get()).total_groups == 1


@pytest.mark.anyio
async def test_projects_do_not_see_each_other(
    store: fv.Store, firestore_emulator: FirestoreEmulator, other_project: str
) -> None:
    async with await fv.connect(project=other_project,
                                emulator_host=firestore_emulator.host) as other:
        await _protect_one(store, -1001, -2001)
        await _protect_one(other, -1001, -2009)  # same group id, other project
        assert (await store.groups.get(-1001)).channel_ids == [-2001]
        assert (await other.groups.get(-1001)).channel_ids == [-2009]
        assert await store.channels.count() == 1
        assert await other.channels.count() == 1
        await other.groups.unprotect(-1001)
        assert (await store.groups.get(-1001)).enabled
        assert (await store.stats.get()).total_groups == 1
        assert (await other.stats.get()).total_groups == 0


@pytest.mark.anyio
async def test_databases_do_not_see_each_other(
    store: fv.Store, firestore_emulator: FirestoreEmulator
) -> None:
    async with await fv.connect(project=store.project, database="second-db",
                                emulator_host=firestore_emulator.host) as second:
        assert second.database == "second-db"
        try:
            await _protect_one(second, -1005, -2005)
            assert await second.groups.exists(-1005)
            assert not await store.groups.exists(-1005)
            assert (await store.stats.get()).total_groups == 0
        finally:
            firestore_emulator.wipe(store.project, "second-db")


@pytest.mark.parametrize("prefix", ["a/b", "__reserved", "/"])
@pytest.mark.anyio
async def test_bad_prefix(prefix: str) -> None:
    with pytest.raises(fv.ConfigurationError, match="collection prefix") as info:
        await fv.connect(project="p", prefix=prefix, emulator_host="127.0.0.1:1", env={})
    assert repr(prefix) in str(info.value)


@pytest.mark.anyio
async def test_store_exposes_its_settings(store: fv.Store) -> None:
    assert store.database == "(default)"
    assert store.prefix == ""
    assert store.collection_name("owners") == "owners"
    # Repositories are made once per store and hang off it.
    assert store.groups is store.groups
    assert store.groups.collection.id == "protected_groups"
    assert f"project={store.project!r}" in repr(store)


@pytest.mark.anyio
async def test_demo_tour(
    firestore_emulator: FirestoreEmulator, firestore_project: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from firestore_verify import demo

    await demo.run(firestore_emulator.host, firestore_project)
    out = capsys.readouterr().out
    assert "protected_groups (3):" in out
    assert "enforced_channels (3):" in out
    assert "total_groups=3  total_channels=3" in out
    assert "created=False, new channels=[]" in out
    # The renamed channel shows under both groups that enforce it.
    assert out.count("- Crypto News (official)") == 2
    assert "total_groups is now 2" in out
