"""The read-only collection browser, on the emulator."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import AsyncIterator
from datetime import datetime, timezone

import anyio
import pytest
from google.cloud import firestore
from google.cloud.firestore_v1.vector import Vector

import firestore_verify as fv
from firestore_verify.browser import (
    COLLECTIONS,
    BrowserDocument,
    BrowserPage,
    CollectionBrowser,
    encode_value,
)
from firestore_verify.repositories.admin import MASK
from firestore_verify.testing import FirestoreEmulator

pytestmark = pytest.mark.anyio

GROUP = fv.GroupInfo(id=-1001, title="Group")
OWNER = fv.OwnerInfo(id=42, username="alice")
NEWS = fv.ChannelInfo(id=-2001, title="News", username="news")


@pytest.fixture
async def prefixed(
    firestore_emulator: FirestoreEmulator, firestore_project: str
) -> AsyncIterator[fv.Store]:
    async with await fv.connect(project=firestore_project, prefix="staging_",
                                emulator_host=firestore_emulator.host) as store:
        yield store


def dumped(doc: BrowserDocument) -> dict[str, object]:
    """The JSON an API would send (NaN/inf must not leak as invalid JSON)."""
    text = doc.model_dump_json()
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


async def test_every_value_type_round_trips_into_typed_json(store: fv.Store) -> None:
    when = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
    ref = store.collection("protected_groups").document("-1001")
    await store.collection("owners").document("42").set({
        "null": None, "yes": True, "int": -(2**63), "float": 1.5, "whole": 2.0,
        "nan": math.nan, "inf": math.inf, "ninf": -math.inf, "text": "héllo",
        "bytes": b"\x00\xff", "when": when, "geo": firestore.GeoPoint(51.5, -0.12),
        "ref": ref, "list": [1, "a", {"x": [True]}], "map": {"b": {"c": None}, "a": 1},
        "vec": Vector([0.5, 1.0]), "empty_list": [], "empty_map": {},
    })
    doc = await CollectionBrowser(store).document("owners", "42")
    fields = dumped(doc)["fields"]
    assert fields == {
        "null": {"type": "null", "value": None},
        "yes": {"type": "boolean", "value": True},
        "int": {"type": "integer", "value": -(2**63)},
        "float": {"type": "double", "value": 1.5},
        "whole": {"type": "double", "value": 2.0},
        "nan": {"type": "double", "value": "NaN"},
        "inf": {"type": "double", "value": "Infinity"},
        "ninf": {"type": "double", "value": "-Infinity"},
        "text": {"type": "string", "value": "héllo"},
        "bytes": {"type": "bytes", "value": base64.b64encode(b"\x00\xff").decode()},
        "when": {"type": "timestamp", "value": "2024-05-01T12:30:15.123456Z"},
        "geo": {"type": "geopoint", "value": {"latitude": 51.5, "longitude": -0.12}},
        "ref": {"type": "reference", "value": "protected_groups/-1001", "in_store": True},
        "list": {"type": "array", "value": [
            {"type": "integer", "value": 1}, {"type": "string", "value": "a"},
            {"type": "map", "value": {
                "x": {"type": "array", "value": [{"type": "boolean", "value": True}]}}}]},
        "map": {"type": "map", "value": {
            "a": {"type": "integer", "value": 1},
            "b": {"type": "map", "value": {"c": {"type": "null", "value": None}}}}},
        "vec": {"type": "vector", "value": [0.5, 1.0]},
        "empty_list": {"type": "array", "value": []},
        "empty_map": {"type": "map", "value": {}},
    }
    assert doc.path == "owners/42"
    assert doc.collection == "owners"
    assert doc.create_time is not None
    assert doc.create_time.endswith("Z")
    assert doc.update_time is not None
    # The models parse their own JSON back (an API client with the schema can).
    assert BrowserDocument.model_validate_json(doc.model_dump_json()) == doc


async def test_library_documents_encode_with_server_timestamps(store: fv.Store) -> None:
    await store.groups.protect(GROUP, OWNER, [NEWS])
    browser = CollectionBrowser(store)
    group = await browser.document("protected_groups", "-1001")
    assert group.fields["title"].value == "Group"
    created = group.fields["created_at"]
    assert created.type == "timestamp"
    assert isinstance(created.value, str)
    assert created.value.endswith("Z")
    channels = group.fields["enforced_channels"]
    assert channels.type == "array"
    stats = await browser.document("_metadata", "stats")
    assert stats.fields["total_groups"].model_dump() == {"type": "integer", "value": 1}


def test_encode_value_plain_datetimes_and_unknown_types() -> None:
    naive = datetime(2024, 1, 1)  # Firestore times are UTC
    assert encode_value(naive).model_dump() == {"type": "timestamp",
                                                "value": "2024-01-01T00:00:00Z"}
    other = encode_value(object())
    assert other.type == "other"


async def test_paging_covers_every_document_exactly_once(store: fv.Store) -> None:
    batch = store.client.batch()
    ids = [f"u{i:03d}" for i in range(23)] + ["-5", "Z", "a b", "é"]
    for doc_id in ids:
        batch.set(store.collection("verification_users").document(doc_id), {"n": doc_id})
    await batch.commit()
    browser = CollectionBrowser(store)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await browser.documents("verification_users", limit=5, cursor=cursor)
        assert isinstance(page, BrowserPage)
        assert len(page.items) <= 5
        seen += [doc.id for doc in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 6
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))
    exact = await browser.documents("verification_users", limit=len(ids))
    assert exact.next_cursor is None
    assert [d.id for d in exact.items] == seen  # ordered by document id, page by page


async def test_tampered_cursors_and_bad_limits_are_invalid_input(store: fv.Store) -> None:
    await store.collection("owners").document("1").set({"a": 1})
    await store.collection("owners").document("2").set({"a": 2})
    browser = CollectionBrowser(store)
    cursor = (await browser.documents("owners", limit=1)).next_cursor
    assert cursor is not None
    forged = [cursor + "x", "!!!", base64.urlsafe_b64encode(b'["a/b"]').decode(),
              base64.urlsafe_b64encode(b'["__x__"]').decode(),
              base64.urlsafe_b64encode(b"[1, 2]").decode(), ""]
    for bad in forged:
        with pytest.raises(fv.InvalidInputError):
            await browser.documents("owners", cursor=bad)
    for limit in (0, -1, 1001):
        with pytest.raises(fv.InvalidInputError):
            await browser.documents("owners", limit=limit)


async def test_sensitive_config_is_masked(store: fv.Store) -> None:
    await store.config.set("bot_token", "123:secret", is_sensitive=True)
    await store.config.set("mode", {"strict": True})
    browser = CollectionBrowser(store)
    secret = await browser.document("admin_config", "bot_token")
    assert secret.fields["value"].model_dump() == {"type": "string", "value": MASK}
    assert secret.masked == ["value"]
    assert "123:secret" not in secret.model_dump_json()
    plain = await browser.document("admin_config", "mode")
    assert plain.masked == []
    assert plain.fields["value"].type == "map"
    listed = {d.id: d for d in (await browser.documents("admin_config")).items}
    assert listed["bot_token"].fields["value"].value == MASK
    assert "123:secret" not in (await browser.documents("admin_config")).model_dump_json()
    async with browser.watch_document("admin_config", "bot_token") as stream:
        with anyio.fail_after(10):
            live = await stream.next()
    assert live is not None
    assert live.fields["value"].value == MASK


async def test_collections_and_subcollections(store: fv.Store) -> None:
    browser = CollectionBrowser(store)
    assert await browser.collections() == []
    await store.groups.protect(GROUP, OWNER, [NEWS])
    await store.verifications.write_many(
        [fv.Verification(user_id=7, group_id=GROUP.id, status=fv.Status.SUCCESS)], shard=2)
    await store.client.collection("someone_elses").document("x").set({"a": 1})
    listed = await browser.collections()
    names = [c.name for c in listed]
    assert set(names) == {"owners", "protected_groups", "enforced_channels", "verifications",
                          "_metadata", "rollups_daily", "rollups_group_daily",
                          "verification_users"}
    assert names == [n for n in COLLECTIONS if n in names]  # contract order
    assert all(c.count is None for c in listed)
    counted = {c.name: c.count for c in await browser.collections(counts=True)}
    assert counted["protected_groups"] == 1
    assert counted["verifications"] == 1
    assert await browser.subcollections("_metadata", "stats") == ["_metadata/stats/shards"]
    assert await browser.subcollections("protected_groups", "-1001") == []
    shards = await browser.documents("_metadata/stats/shards")
    assert [d.id for d in shards.items] == ["2"]
    assert shards.items[0].path == "_metadata/stats/shards/2"
    shard = await browser.document("_metadata/stats/shards", "2")
    assert shard.fields["total_verifications"].value == 1


async def test_prefixes_isolate(store: fv.Store, prefixed: fv.Store) -> None:
    await store.groups.protect(GROUP, OWNER, [NEWS])
    await prefixed.groups.protect(fv.GroupInfo(id=-1002, title="Staging"), OWNER, [])
    await prefixed.collection("owners").document("9").set(
        {"group": prefixed.collection("protected_groups").document("-1002"),
         "foreign": store.collection("protected_groups").document("-1001")})
    # Another prefix that starts like this one: not ours either.
    await store.client.collection("staging_eu_owners").document("1").set({"a": 1})
    plain, staged = CollectionBrowser(store), CollectionBrowser(prefixed)
    assert {c.name for c in await staged.collections()} == {
        "owners", "protected_groups", "_metadata"}
    assert "owners" in {c.name for c in await plain.collections()}
    assert [d.id for d in (await staged.documents("protected_groups")).items] == ["-1002"]
    assert [d.id for d in (await plain.documents("protected_groups")).items] == ["-1001"]
    with pytest.raises(fv.NotFoundError):
        await plain.document("protected_groups", "-1002")
    with pytest.raises(fv.NotFoundError):
        await plain.documents("staging_protected_groups")
    with pytest.raises(fv.NotFoundError):
        await staged.documents("eu_owners")
    owner = await staged.document("owners", "9")
    assert owner.fields["group"].model_dump() == {
        "type": "reference", "value": "protected_groups/-1002", "in_store": True}
    assert owner.fields["foreign"].model_dump() == {
        "type": "reference", "value": "protected_groups/-1001", "in_store": False}


async def test_names_and_ids_raise_typed_errors(store: fv.Store) -> None:
    browser = CollectionBrowser(store)
    for name in ("", "/", "owners/42", "owners//x", "__x__", "owners/42/__y__", "a/b/c/d"):
        with pytest.raises(fv.InvalidInputError):
            await browser.documents(name)
    for name in ("unknown", "someone_elses", "Owners"):
        with pytest.raises(fv.NotFoundError):
            await browser.documents(name)
        with pytest.raises(fv.NotFoundError):
            await browser.document(name, "1")
        with pytest.raises(fv.NotFoundError):
            browser.watch_document(name, "1")
    for doc_id in ("", "a/b", ".", "..", "__id__", "x" * 1501):
        with pytest.raises(fv.InvalidInputError):
            await browser.document("owners", doc_id)
        with pytest.raises(fv.InvalidInputError):
            await browser.subcollections("owners", doc_id)
        with pytest.raises(fv.InvalidInputError):
            browser.watch_document("owners", doc_id)
    with pytest.raises(fv.NotFoundError) as missing:
        await browser.document("owners", "404")
    assert "owners/404" in str(missing.value)
    # An empty but valid collection is an empty page, not an error.
    assert (await browser.documents("admin_users")).items == []


async def test_watch_document_follows_changes(store: fv.Store) -> None:
    browser = CollectionBrowser(store)
    async with browser.watch_document("protected_groups", "-1001") as stream:
        with anyio.fail_after(10):
            assert await stream.next() is None
            await store.groups.protect(GROUP, OWNER, [NEWS])
            while (doc := await stream.next()) is None:
                pass
            assert doc.fields["enabled"].value is True
            await store.groups.unprotect(GROUP.id)
            while (doc := await stream.next()) is None or doc.fields["enabled"].value:
                pass
            assert doc.path == "protected_groups/-1001"


def test_models_describe_themselves_for_openapi() -> None:
    schema = BrowserPage.model_json_schema()
    defs = schema["$defs"]
    assert {"MapValue", "ArrayValue", "TimestampValue", "ReferenceValue"} <= set(defs)
    union = defs["BrowserDocument"]["properties"]["fields"]["additionalProperties"]
    assert union["discriminator"]["propertyName"] == "type"
    assert set(union["discriminator"]["mapping"]) == {
        "null", "boolean", "integer", "double", "string", "bytes", "timestamp", "geopoint",
        "reference", "vector", "array", "map", "other"}
