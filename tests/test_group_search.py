"""Group search: case-insensitive title prefix or id, filters, sorting, cursors."""

from __future__ import annotations

import pytest

import firestore_verify as fv

pytestmark = pytest.mark.anyio

OWNER = fv.OwnerInfo(id=42)
TITLES = ["Crypto Chat", "crypto deals", "CRYPTONITE", "Cats", "Ünïcode Café", "Dogs"]


@pytest.fixture
async def groups(store: fv.Store) -> list[int]:
    ids = []
    for index, title in enumerate(TITLES, 1):
        group = fv.GroupInfo(id=-1000 - index, title=title, member_count=index * 10)
        await store.groups.protect(group, OWNER)
        ids.append(group.id)
    await store.groups.unprotect(-1002)  # "crypto deals" is disabled
    return ids


async def test_prefix_search_ignores_case(store: fv.Store, groups: list[int]) -> None:
    found = await store.groups.search("cRyPtO")
    assert [g.title for g in found] == ["Crypto Chat", "crypto deals", "CRYPTONITE"]
    enabled = await store.groups.search("crypto", enabled=True)
    assert [g.title for g in enabled] == ["Crypto Chat", "CRYPTONITE"]
    assert [g.title for g in await store.groups.search("ünï")] == ["Ünïcode Café"]
    assert (await store.groups.search("zebra")).items == []


async def test_id_search_and_listing(store: fv.Store, groups: list[int]) -> None:
    assert [g.id for g in await store.groups.search("-1003")] == [-1003]
    assert (await store.groups.search("-1002", enabled=True)).items == []
    assert (await store.groups.search("-999999")).items == []
    by_members = await store.groups.search(order_by="member_count", descending=True)
    assert [g.member_count for g in by_members] == [60, 50, 40, 30, 20, 10]


async def test_pages_cover_every_match_once(store: fv.Store, groups: list[int]) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.groups.search("c", limit=2, cursor=cursor)
        seen += [g.title for g in page]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["Cats", "Crypto Chat", "crypto deals", "CRYPTONITE"]


async def test_a_renamed_group_is_found_by_its_new_title(store: fv.Store,
                                                         groups: list[int]) -> None:
    await store.groups.update(-1006, title="Wolves")
    assert [g.id for g in await store.groups.search("wol")] == [-1006]
    assert (await store.groups.search("dog")).items == []


async def test_bad_sorts_are_refused(store: fv.Store) -> None:
    with pytest.raises(fv.InvalidInputError, match="sorted by"):
        await store.groups.search(order_by="owner_id")
    with pytest.raises(fv.InvalidInputError, match="sorted by title"):
        await store.groups.search("cr", order_by="created_at")
