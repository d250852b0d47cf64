"""Models: validation at the edges, and exact round trips through Firestore."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import firestore_verify as fv
from firestore_verify.models import Document
from firestore_verify.repositories import Repository

UTC = timezone.utc


async def roundtrip(store: fv.Store, model: Document) -> Document:
    """Write ``model``, read it back, write the read model again, read again: must be equal."""
    ref = store.collection(model.collection).document(model.document_id())
    await ref.create(model.to_document())
    first = type(model).from_document(ref.id, (await ref.get()).to_dict() or {})
    await ref.set(first.to_document())
    second = type(model).from_document(ref.id, (await ref.get()).to_dict() or {})
    assert second == first
    assert second.model_dump() == first.model_dump()
    return first


def assert_server_stamped(model: Document, *names: str) -> None:
    now = datetime.now(UTC)
    for name in names:
        value = getattr(model, name)
        assert isinstance(value, datetime), name
        assert value.tzinfo is not None
        assert abs(now - value) < timedelta(minutes=1), name


@pytest.mark.anyio
async def test_group_roundtrip(store: fv.Store) -> None:
    group = fv.ProtectedGroup(
        id=-1001234567890, owner_id=42, title="  Crypto Chat  ", enabled=False,
        params={"warning_template": "Join {channels}!", "mute_seconds": 60,
                "nested": {"list": [1, 2.5, "x", None, True]}},
        member_count=1234,
        enforced_channels=[
            fv.ChannelRef(channel_id=-1009876543210, title="News", username="@news_chan"),
            fv.ChannelRef(channel_id=-1001, title="Invite only",
                          invite_link="https://t.me/+AbCdEf"),
        ],
    )
    assert group.title == "Crypto Chat"  # stripped
    assert group.enforced_channels[0].username == "news_chan"  # no "@"
    back = await roundtrip(store, group)
    assert back.model_dump(exclude={"created_at", "updated_at"}) == group.model_dump(
        exclude={"created_at", "updated_at"})
    assert_server_stamped(back, "created_at", "updated_at")
    assert back.channel_ids == [-1009876543210, -1001]
    assert back.enforced_channels[0].join_url() == "https://t.me/news_chan"
    assert back.enforced_channels[1].join_url() == "https://t.me/+AbCdEf"


@pytest.mark.anyio
async def test_channel_owner_admin_config_roundtrip(store: fv.Store) -> None:
    channel = fv.EnforcedChannel(id=-1002, title="Ch", username="chan_name",
                                 subscriber_count=10, linked_groups=[-1, -2])
    back = await roundtrip(store, channel)
    assert back.model_dump(exclude={"created_at", "updated_at"}) == channel.model_dump(
        exclude={"created_at", "updated_at"})
    assert_server_stamped(back, "created_at", "updated_at")

    owner = await roundtrip(store, fv.Owner(id=42, username="alice", settings={"lang": "en"}))
    assert (owner.username, owner.settings) == ("alice", {"lang": "en"})
    assert_server_stamped(owner, "created_at", "updated_at")

    # Client-chosen timestamps keep their microseconds and come back in UTC.
    login = datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=timezone(timedelta(hours=2)))
    admin = await roundtrip(store, fv.AdminUser(uid="firebase-uid-1", email="a@b.co",
                                                role=fv.Role.ADMIN, telegram_id=7,
                                                last_login=login))
    assert admin.last_login == login
    assert admin.last_login is not None
    assert admin.last_login.utcoffset() == timedelta(0)
    assert admin.role is fv.Role.ADMIN
    assert_server_stamped(admin, "created_at")

    entry = await roundtrip(store, fv.ConfigEntry(key="cache.ttl", value={"seconds": 30},
                                                  is_sensitive=True, updated_by="uid-1"))
    assert entry.value == {"seconds": 30}
    assert_server_stamped(entry, "updated_at")


@pytest.mark.anyio
async def test_audit_and_verification_roundtrip(store: fv.Store) -> None:
    audit = fv.AuditEntry(actor_uid="uid-1", action="group.disable",
                          resource_type="group", resource_id="-1001",
                          old_value={"enabled": True}, new_value={"enabled": False},
                          ip_address="203.0.113.9", user_agent="pytest")
    back = await roundtrip(store, audit)
    assert back.id == audit.id
    assert len(back.id) == 32
    assert (back.old_value, back.new_value) == ({"enabled": True}, {"enabled": False})

    event = fv.Verification(user_id=7, group_id=-1001, channel_id=-1002,
                            status=fv.Status.FAILED, latency_ms=12.5, cached=True)
    stored = await roundtrip(store, event)
    assert stored.occurred_at == event.occurred_at
    assert stored.status is fv.Status.FAILED
    assert_server_stamped(stored, "created_at")


@pytest.mark.anyio
async def test_enums_are_stored_as_plain_strings(store: fv.Store) -> None:
    admin = fv.AdminUser(uid="u1", email="a@b.co", role=fv.Role.OWNER)
    event = fv.Verification(user_id=7, group_id=-1, status=fv.Status.ERROR, error_type="Timeout")
    assert type(admin.to_document()["role"]) is str
    assert type(event.to_document()["status"]) is str
    await store.admins.create(admin)
    await store.collection("verifications").document(event.id).create(event.to_document())
    raw_admin = (await store.admins.ref("u1").get()).to_dict() or {}
    raw_event = (await store.collection("verifications").document(event.id).get()).to_dict()
    assert raw_admin["role"] == "owner"
    assert raw_event is not None
    assert raw_event["status"] == "error"
    # A plain-string query (what other Firestore clients send) finds them.
    assert (await store.admins.list(filters=[("role", "==", "owner")])).items[0].uid == "u1"


def test_id_is_not_stored_in_the_document() -> None:
    assert "id" not in fv.Owner(id=5).to_document()
    assert "uid" not in fv.AdminUser(uid="x", email="a@b.co").to_document()
    assert "key" not in fv.ConfigEntry(key="k").to_document()
    assert fv.ConfigEntry(key="k").document_id() == "k"


def test_unknown_fields_in_documents_are_ignored_on_read() -> None:
    # A newer client may add fields: older readers must not break.
    owner = fv.Owner.from_document("5", {"username": "alice", "future_field": 1})
    assert owner.id == 5
    assert owner.username == "alice"


# -- validation ------------------------------------------------------------------------


def errors_of(cls: type[Any], **data: Any) -> list[str]:
    with pytest.raises(fv.InvalidInputError) as info:
        cls(**data)
    assert isinstance(info.value, ValueError)  # catchable as a plain ValueError too
    assert info.value.errors, "every problem is listed"
    assert cls.__name__ in str(info.value)
    return info.value.errors


def fields_of(errors: list[str]) -> set[str]:
    return {line.split(":", 1)[0] for line in errors}


@pytest.mark.parametrize(
    ("cls", "data", "field"),
    [
        (fv.GroupInfo, {"id": 1001, "title": "g"}, "id"),
        (fv.GroupInfo, {"id": 0, "title": "g"}, "id"),
        (fv.ChannelInfo, {"id": 5, "title": "c"}, "id"),
        (fv.ChannelRef, {"channel_id": 5, "title": "c"}, "channel_id"),
        (fv.OwnerInfo, {"id": -42}, "id"),
        (fv.Owner, {"id": 0}, "id"),
        (fv.ProtectedGroup, {"id": -1, "owner_id": -42, "title": "g"}, "owner_id"),
        (fv.EnforcedChannel, {"id": -1, "title": "c", "linked_groups": [-1, 2]}, "linked_groups.1"),
        (fv.Verification, {"user_id": -7, "group_id": -1, "status": "success"}, "user_id"),
        (fv.Verification, {"user_id": 7, "group_id": 1, "status": "success"}, "group_id"),
        (fv.AdminUser, {"uid": "u", "email": "a@b.co", "telegram_id": -3}, "telegram_id"),
        (fv.GroupInfo, {"id": -(2**63), "title": "g"}, "id"),
    ],
)
def test_id_signs(cls: type[Any], data: dict[str, Any], field: str) -> None:
    assert field in fields_of(errors_of(cls, **data))


def test_unknown_fields_are_refused() -> None:
    errors = errors_of(fv.GroupInfo, id=-1, title="g", titel="typo", colour="red")
    assert {"titel", "colour"} <= fields_of(errors)
    assert "owner" in fields_of(errors_of(fv.ProtectedGroup, id=-1, owner_id=1, title="g",
                                          owner=1))


@pytest.mark.parametrize("title", ["", "   ", "\n\t"])
def test_empty_titles(title: str) -> None:
    assert fields_of(errors_of(fv.GroupInfo, id=-1, title=title)) == {"title"}
    assert fields_of(errors_of(fv.ChannelInfo, id=-1, title=title)) == {"title"}


def test_oversize_values() -> None:
    assert fields_of(errors_of(fv.GroupInfo, id=-1, title="x" * 256)) == {"title"}
    assert fv.GroupInfo(id=-1, title="x" * 255).title == "x" * 255
    errors = errors_of(fv.ProtectedGroup, id=-1, owner_id=1, title="g",
                       params={"warning_template": "x" * 33_000})
    assert fields_of(errors) == {"params"}
    assert "32000" in errors[0]
    assert fields_of(errors_of(fv.Owner, id=1, settings={"blob": "y" * 40_000})) == {"settings"}
    too_many = [fv.ChannelRef(channel_id=-i, title="c") for i in range(1, 52)]
    assert "enforced_channels" in fields_of(errors_of(fv.ProtectedGroup, id=-1, owner_id=1,
                                                      title="g", enforced_channels=too_many))


def test_every_bad_field_is_listed_at_once() -> None:
    errors = errors_of(fv.ChannelInfo, id=3, title="", username="x", invite_link="ftp://a",
                       subscriber_count=-1)
    assert fields_of(errors) == {"id", "title", "username", "invite_link", "subscriber_count"}


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2024, 1, 1, 12, 0)
    errors = errors_of(fv.AdminUser, uid="u", email="a@b.co", last_login=naive)
    assert fields_of(errors) == {"last_login"}
    assert "naive datetime" in errors[0]
    assert fields_of(errors_of(fv.Verification, user_id=1, group_id=-1, status="success",
                               occurred_at=naive)) == {"occurred_at"}
    # Aware values are normalised to UTC, the same instant.
    aware = datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    event = fv.Verification(user_id=1, group_id=-1, status="success", occurred_at=aware)
    assert event.occurred_at == aware
    assert event.occurred_at.tzinfo is UTC
    assert event.occurred_at.hour == 17


def test_bad_enum_values() -> None:
    assert fields_of(errors_of(fv.Verification, user_id=1, group_id=-1,
                               status="maybe")) == {"status"}
    assert fields_of(errors_of(fv.AdminUser, uid="u", email="a@b.co",
                               role="root")) == {"role"}
    assert fv.Verification(user_id=1, group_id=-1, status="failed").status is fv.Status.FAILED


def test_assignment_is_validated_too() -> None:
    info = fv.GroupInfo(id=-1, title="g")
    with pytest.raises(ValueError, match="title"):
        info.title = ""


def test_parse_gives_typed_errors_and_accepts_models() -> None:
    info = fv.GroupInfo(id=-1, title="g")
    assert fv.GroupInfo.parse(info) is info
    assert fv.GroupInfo.parse({"id": -2, "title": "h"}).id == -2
    with pytest.raises(fv.InvalidInputError) as exc:
        fv.GroupInfo.parse({"id": 2, "title": "h", "extra": 1})
    assert fields_of(exc.value.errors) == {"id", "extra"}


def test_stats_success_rate_is_derived() -> None:
    assert fv.Stats().success_rate == 0.0
    stats = fv.Stats(total_verifications=3, success_count=2, failed_count=1)
    assert stats.success_rate == 66.67
    with pytest.raises(fv.InvalidInputError):
        fv.Stats(total_groups=-1)


def test_repository_keys() -> None:
    class Owners(Repository[fv.Owner]):
        model = fv.Owner

    class FakeStore:
        def collection(self, name: str) -> Any:
            return name

    repo = Owners(FakeStore())  # type: ignore[arg-type]
    assert repo.key(-5) == "-5"
    assert repo.key(fv.Owner(id=9)) == "9"
    for bad in ("", "a/b", "..", "__x__"):
        with pytest.raises(fv.InvalidInputError):
            repo.key(bad)


def test_nested_and_mapping_errors_name_the_exact_field() -> None:
    # Validation from a mapping (parse/from_document) and of nested models must list
    # the bad fields themselves, not one opaque top-level "value" error.
    with pytest.raises(fv.InvalidInputError) as exc:
        fv.ProtectedGroup(id=-1, owner_id=1, title="g",
                          enforced_channels=[{"channel_id": -5, "title": "ok"},
                                             {"channel_id": 5, "title": ""}])
    assert fields_of(exc.value.errors) == {"enforced_channels.1.channel_id",
                                           "enforced_channels.1.title"}
    with pytest.raises(fv.InvalidInputError) as exc:
        fv.ProtectedGroup.from_document("-1", {"owner_id": -1, "title": ""})
    assert fields_of(exc.value.errors) == {"owner_id", "title"}
