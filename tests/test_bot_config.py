"""The bot's typed runtime config: schema, validation, masking, audited updates, watch."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import pytest

import firestore_verify as fv
from firestore_verify.bot_config import DEFAULT_WARNING_TEMPLATE, BotConfig
from firestore_verify.models import Actor
from firestore_verify.repositories.admin import MASK
from firestore_verify.repositories.bot_config import BotConfigRepository

pytestmark = pytest.mark.anyio

ALICE = Actor(uid="alice", ip_address="203.0.113.7", user_agent="pytest")


async def stored(store: fv.Store) -> dict[str, Any]:
    page = await store.config.list(limit=100)
    return {entry.key: entry.value for entry in page.items}


async def audit(store: fv.Store) -> list[fv.AuditEntry]:
    page = await store.audit.list(limit=100)
    return sorted(page.items, key=lambda e: e.resource_id or "")


async def test_defaults_fill_every_key_and_the_schema_describes_them(store: fv.Store) -> None:
    config = BotConfigRepository(store)
    current = await config.load()
    assert current == BotConfig()
    assert current.explicit == frozenset()
    assert current.messages.warning_template == DEFAULT_WARNING_TEMPLATE
    assert current.cache_settings() == fv.CacheSettings()
    values = await config.get()
    assert values["cache.positive_ttl"] == 600.0
    assert values["webhook.secret"] is None  # unset: nothing to mask

    schema = {field.key: field for field in config.schema().settings}
    assert set(schema) == set(values)
    ttl = schema["cache.positive_ttl"]
    assert (ttl.type, ttl.default, ttl.minimum, ttl.maximum) == ("number", 600.0, 0, None)
    assert schema["cache.jitter"].exclusive_maximum == 1
    assert schema["cache.max_entries"].type == "integer"
    assert schema["rate_limits.moderation_per_second"].exclusive_minimum == 0
    assert schema["logging.level"].choices == ["DEBUG", "INFO", "WARNING", "ERROR"]
    secret = schema["webhook.secret"]
    assert secret.sensitive
    assert not secret.live
    assert not any(f.sensitive for k, f in schema.items() if k != "webhook.secret")
    assert all(field.description for field in schema.values())
    assert config.schema().mask == MASK


@pytest.mark.parametrize("name", ["positive_ttl", "negative_ttl", "jitter", "max_entries"])
def test_cache_ranges_match_cache_settings(name: str) -> None:
    candidates: list[Any] = [-1, -0.5, 0, 0.0, 0.5, 0.999, 1, 1.0, 2, 10**9, math.inf, math.nan,
                             True, "5"]
    for value in candidates:
        try:
            fv.CacheSettings(**{name: value})
            accepted = True
        except fv.ConfigurationError:
            accepted = False
        try:
            BotConfig.from_flat({f"cache.{name}": value})
            schema_ok = True
        except fv.InvalidInputError:
            schema_ok = False
        assert schema_ok == accepted, (name, value)


async def test_bad_changes_are_all_listed_and_nothing_is_written(store: fv.Store) -> None:
    config = BotConfigRepository(store)
    bad = {
        "cache.positive_ttl": -5,                  # below the range
        "cache.jitter": 1.0,                       # at the excluded upper bound
        "cache.max_entries": "100",                # a string for an integer
        "rate_limits.moderation_per_second": 0,    # must be > 0
        "messages.warning_template": "join {channel}",  # unknown placeholder
        "cache.colour": "blue",                    # unknown key
        "cache.negative_ttl": 30,                  # valid, but must not be written either
    }
    with pytest.raises(fv.InvalidInputError) as caught:
        await config.update(bad, actor=ALICE)
    named = {line.split(":", 1)[0] for line in caught.value.errors}
    assert named == set(bad) - {"cache.negative_ttl"}
    assert "cache.colour" in str(caught.value)
    assert await stored(store) == {}
    assert await audit(store) == []
    assert await config.load() == BotConfig()


async def test_changed_keys_and_their_audit_entries_commit_together(store: fv.Store) -> None:
    config = BotConfigRepository(store)
    changed = await config.update({
        "cache.negative_ttl": 30,                  # an int for a float: fine
        "messages.warning_template": "{user}: join {channels}",
        "cache.positive_ttl": 600.0,               # the default already: no change
    }, actor=ALICE)
    assert changed == ["messages.warning_template", "cache.negative_ttl"]
    assert await stored(store) == {"cache.negative_ttl": 30.0,
                                   "messages.warning_template": "{user}: join {channels}"}
    entries = await audit(store)
    assert [(e.resource_id, e.old_value, e.new_value) for e in entries] == [
        ("cache.negative_ttl", None, 30.0),
        ("messages.warning_template", None, "{user}: join {channels}"),
    ]
    assert {(e.action, e.resource_type, e.actor_uid, e.ip_address, e.user_agent)
            for e in entries} == {("config.set", "config", "alice", "203.0.113.7", "pytest")}
    entry = await store.config.get("cache.negative_ttl")
    assert entry.updated_by == "alice"
    assert entry.description  # the schema's description travels with the value

    # The same values again: nothing changes, nothing is audited.
    assert await config.update({"cache.negative_ttl": 30.0}, actor=ALICE) == []
    assert len(await audit(store)) == 2

    current = await config.load()
    assert current.cache.negative_ttl == 30.0
    assert current.explicit == {"cache.negative_ttl", "messages.warning_template"}
    assert current.cache_settings(fv.CacheSettings(positive_ttl=5)) == fv.CacheSettings(
        positive_ttl=5, negative_ttl=30)


async def test_a_failing_audit_entry_takes_the_change_with_it(
    store: fv.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = BotConfigRepository(store)
    taken = uuid.UUID(int=1)
    await store.audit.create(fv.AuditEntry(id=taken.hex, actor_uid="bob", action="x",
                                           resource_type="y"))
    real, calls = uuid.uuid4, []

    def colliding() -> uuid.UUID:  # the first audit entry of every attempt collides
        calls.append(1)
        return taken if len(calls) % 2 else real()

    monkeypatch.setattr(uuid, "uuid4", colliding)
    with pytest.raises(Exception, match=r"(?i)exist"):
        await config.update({"cache.negative_ttl": 30, "cache.positive_ttl": 900},
                            actor=ALICE)
    monkeypatch.undo()
    assert await stored(store) == {}  # the audit entry failed: so did the change
    assert [e.id for e in await audit(store)] == [taken.hex]


async def test_secrets_are_masked_on_read_and_in_the_audit_trail(store: fv.Store) -> None:
    config = BotConfigRepository(store)
    assert await config.update({"webhook.secret": "s3cret_token"}, actor=ALICE) == [
        "webhook.secret"]
    assert (await config.get())["webhook.secret"] == MASK
    assert (await config.get(masked=False))["webhook.secret"] == "s3cret_token"
    assert (await config.load()).webhook.secret == "s3cret_token"
    entry = await store.config.get("webhook.secret")
    assert entry.is_sensitive

    # A form sends everything back, the secret as the mask: the mask means "keep".
    form = await config.get()
    form["cache.jitter"] = 0.3
    assert await config.update(form, actor=ALICE) == ["cache.jitter"]
    assert (await config.get(masked=False))["webhook.secret"] == "s3cret_token"

    assert await config.update({"webhook.secret": "rotated-2"}, actor=ALICE) == [
        "webhook.secret"]
    secrets = [e for e in await audit(store) if e.resource_id == "webhook.secret"]
    assert sorted((str(e.old_value), e.new_value) for e in secrets) == [
        (MASK, MASK), ("None", MASK)]
    with pytest.raises(fv.InvalidInputError, match=r"webhook\.secret"):
        await config.update({"webhook.secret": "not a valid token!"}, actor=ALICE)


async def test_an_invalid_stored_value_falls_back_to_its_default(store: fv.Store) -> None:
    await store.config.set("cache.jitter", 5)  # another client ignored the schema
    await store.config.set("cache.negative_ttl", 12)
    current = await BotConfigRepository(store).load()
    assert current.cache.jitter == BotConfig().cache.jitter
    assert current.cache.negative_ttl == 12.0
    assert current.explicit == {"cache.negative_ttl"}


async def next_matching(stream: fv.LiveStream[BotConfig], check: Callable[[BotConfig], bool],
                        what: str) -> BotConfig:
    try:
        with anyio.fail_after(10):
            while True:
                value = await stream.next()
                if check(value):
                    return value
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_watch_sees_a_change(store: fv.Store) -> None:
    config = BotConfigRepository(store)
    async with config.watch() as live:
        assert await live.next() == BotConfig()
        await store.config.set("unrelated", 1)  # other entries do not matter
        await config.update({"cache.positive_ttl": 45, "logging.level": "DEBUG"}, actor=ALICE)
        current = await next_matching(live, lambda c: c.cache.positive_ttl == 45,
                                      "the new TTL")
        assert current.logging.level == "DEBUG"
        assert current.explicit == {"cache.positive_ttl", "logging.level"}
