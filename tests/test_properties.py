"""Property-based tests: bad input of every shape, generated.

* Every public input model (everything in :mod:`firestore_verify.models` and the
  public pydantic settings of the package) either builds or raises
  :class:`fv.InvalidInputError`, whatever it is given: arbitrary JSON-like
  values and field-aware near misses (wrong types, ints past 64 bits, empty and
  huge strings, NaN, naive and overflowing datetimes, lone surrogates, deep or
  cyclic maps...). A model that builds is one Firestore can store.
* The rollup planner (:func:`firestore_verify.rollups.plan_batch`), fed random
  events in random batches arriving in random order, adds up to a recount of
  the same events done here the slow, obvious way.
* A tampered pagination cursor is :class:`fv.InvalidInputError`: many cases
  against the decoder, a handful through a real listing on the emulator.

Everything runs derandomized with no example database, so every run checks the
same cases.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import pydantic
import pytest
from google.cloud.firestore import SERVER_TIMESTAMP
from google.cloud.firestore_v1 import _helpers
from google.cloud.firestore_v1.transforms import Increment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import firestore_verify as fv
import firestore_verify.models as fv_models
from firestore_verify.models import Document, InputModel
from firestore_verify.models._base import plain_value
from firestore_verify.repositories._base import _decode_cursor, _encode_cursor
from firestore_verify.rollups import UserState, plan_batch

UTC = timezone.utc
INT64 = 2**63

#: Same cases on every run: derandomized, nothing remembered between runs.
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=120,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# -- which models ------------------------------------------------------------------------------
#: Public pydantic models that the library builds and hands out, never takes as input.
OUTPUT_MODELS = {"BrowserCollection", "BrowserDocument", "BrowserPage", "ConfigField",
                 "ConfigSchema", "LoggerHealth", "LoggerStats"}


def _public_input_models() -> list[type[pydantic.BaseModel]]:
    found: dict[str, type[pydantic.BaseModel]] = {}
    for module, names in ((fv_models, fv_models.__all__), (fv, fv.__all__)):
        for name in names:
            obj = getattr(module, name)
            if (isinstance(obj, type) and issubclass(obj, pydantic.BaseModel)
                    and obj not in (Document, InputModel) and name not in OUTPUT_MODELS):
                found[name] = obj
    return [found[name] for name in sorted(found)]


INPUT_MODELS = _public_input_models()
#: Input settings that are dataclasses, with the typed error their docstring promises.
DATACLASS_SETTINGS: dict[type[Any], tuple[type[Exception], ...]] = {
    fv.CacheSettings: (fv.InvalidInputError, fv.ConfigurationError),
}


def test_the_model_list_covers_the_public_api() -> None:
    names = {model.__name__ for model in INPUT_MODELS}
    assert {"GroupInfo", "ChannelInfo", "OwnerInfo", "Verification", "ProtectedGroup",
            "EnforcedChannel", "Owner", "AdminUser", "AuditEntry", "ConfigEntry", "Actor",
            "ChannelRef", "Stats", "LoggerSettings", "BotConfig", "CacheConfig"} <= names
    assert not names & OUTPUT_MODELS


# -- value strategies ------------------------------------------------------------------------
def _offsets() -> st.SearchStrategy[timezone]:
    return st.builds(lambda minutes: timezone(timedelta(minutes=minutes)),
                     st.integers(-23 * 60 - 59, 23 * 60 + 59))


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"a": value}
    return value


def _cyclic() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["self"] = value
    return value


@dataclasses.dataclass(frozen=True)
class Lazy:
    """A value too deep to print (hypothesis reprs every example): built when used."""

    name: str
    build: Callable[[], Any] = dataclasses.field(repr=False)


def materialize(value: Any) -> Any:
    """``value`` with every :class:`Lazy` inside it (in plain dicts and lists) built."""
    if isinstance(value, Lazy):
        return value.build()
    if type(value) is dict:
        return {key: materialize(item) for key, item in value.items()}
    if type(value) is list:
        return [materialize(item) for item in value]
    return value


def _lazy_nested(depth: int) -> Lazy:
    return Lazy(f"{depth} nested maps", lambda: _nested(depth))


json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)

aware_datetimes = st.datetimes(timezones=_offsets())
naive_datetimes = st.datetimes()
#: Values just outside what each kind of field accepts, and the classic bad inputs.
near_misses: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from([
        0, -1, 1, INT64 - 1, INT64, -INT64, -INT64 - 1, 2**64, 10**30, -(10**30), 10**400,
        float("nan"), float("inf"), float("-inf"), -0.0, 1e308, 5e-324,
        "", " ", "\t\n", "\x00", "\ud800", "a\udfffb", "x" * 100_000, "é" * 300, "@", "@ab",
        "__name__", ".", "..", "a/b", "https://", "https://t.me/ x",
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-5))),
        datetime.min.replace(tzinfo=timezone(timedelta(hours=5))),
        datetime(2024, 1, 1), datetime(2024, 1, 1, tzinfo=UTC), date(2024, 1, 1),
        time(12, 0), timedelta(days=1), b"bytes", b"\xff\xfe", bytearray(b"x"),
        True, False, None, [], {}, [[1]], {"": 1}, {"__x__": 1}, {1: "int key"},
        {"k": 2**64}, {"k": "\ud800"}, {"k": [[1]]}, {"k": object()}, {"k": {1, 2}},
        object(), {1, 2}, frozenset(), (1, 2), complex(1, 2), fv.Status.SUCCESS, fv.Role.OWNER,
        "success", "owner", "DEBUG", "{user}", "{nope}",
    ]),
    st.builds(_nested, st.sampled_from([19, 20, 21])),
    st.sampled_from([_lazy_nested(2000), Lazy("a map holding itself", _cyclic)]),
    st.integers(min_value=INT64 - 3, max_value=INT64 + 3),
    st.integers(min_value=-INT64 - 3, max_value=-INT64 + 3),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec=None), max_size=40),
    naive_datetimes,
    aware_datetimes,
    st.builds(lambda n: "x" * n, st.sampled_from([254, 255, 256, 1000, 1024, 1025, 2049])),
)

chat_ids = st.integers(min_value=-INT64 + 1, max_value=-1)
user_ids = st.integers(min_value=1, max_value=INT64 - 1)
keys = st.from_regex(r"[A-Za-z0-9_.:-]{1,24}", fullmatch=True)
texts = st.text(max_size=300)
usernames = st.from_regex(r"@?[A-Za-z][A-Za-z0-9_]{3,31}", fullmatch=True)
counts = st.integers(min_value=-2, max_value=2**64)
small_maps = st.dictionaries(st.text(max_size=10), json_values, max_size=5)
channel_refs = st.fixed_dictionaries(
    {"channel_id": chat_ids, "title": texts},
    optional={"username": usernames, "invite_link": near_misses},
)
#: Plausible (mostly valid) values by field name, so validation gets past the types.
GOOD: dict[str, st.SearchStrategy[Any]] = {
    "id": st.one_of(chat_ids, user_ids, keys),
    "group_id": chat_ids, "channel_id": chat_ids,
    "user_id": user_ids, "owner_id": user_ids, "telegram_id": user_ids,
    "uid": keys, "key": keys, "actor_uid": keys,
    "title": texts, "action": texts, "resource_type": texts, "resource_id": texts,
    "full_name": texts, "error_type": texts, "updated_by": texts, "description": texts,
    "ip_address": texts, "user_agent": texts, "warning_template": texts,
    "verified_text": texts, "secret": keys,
    "username": usernames,
    "invite_link": st.from_regex(r"https?://t\.me/[A-Za-z0-9+_]{1,20}", fullmatch=True),
    "email": st.emails(),
    "role": st.sampled_from([*fv.Role, *(r.value for r in fv.Role)]),
    "status": st.sampled_from([*fv.Status, *(s.value for s in fv.Status)]),
    "level": st.sampled_from(["DEBUG", "INFO", "WARNING", "ERROR", "debug"]),
    "latency_ms": st.floats(allow_nan=True, allow_infinity=True),
    "params": small_maps, "settings": small_maps,
    "old_value": json_values, "new_value": json_values, "value": json_values,
    "linked_groups": st.lists(chat_ids, max_size=5),
    "enforced_channels": st.lists(channel_refs, max_size=3),
    "messages": small_maps, "rate_limits": small_maps, "cache": small_maps,
    "logging": small_maps, "webhook": small_maps,
}
numbers = st.one_of(st.integers(min_value=-5, max_value=2_000), counts,
                    st.floats(min_value=-1, max_value=2_000), st.booleans())
#: Anything a caller might pass to a field of that name.
ANY_FIELD_VALUE = st.one_of(json_values, near_misses)


def field_values(name: str) -> st.SearchStrategy[Any]:
    """What a generated input puts in field ``name``: plausible, near miss or arbitrary."""
    good = GOOD.get(name)
    if good is None:
        good = st.one_of(numbers, aware_datetimes) if not name.startswith("is_") else st.booleans()
    return st.one_of(good, good, ANY_FIELD_VALUE)


@st.composite
def model_inputs(draw: st.DrawFn, fields: list[str], *, unknown: bool = True) -> dict[str, Any]:
    """Keyword arguments for a model: any subset of its fields, maybe an unknown one."""
    chosen = draw(st.lists(st.sampled_from(fields), unique=True)) if fields else []
    kwargs = {name: draw(field_values(name)) for name in chosen}
    if unknown and draw(st.integers(0, 9)) == 0:
        kwargs[draw(st.sampled_from(["unknown", "Title", "id ", "__class__", "model_config"]))] \
            = draw(ANY_FIELD_VALUE)
    return kwargs


# -- Firestore's rules, stated independently of the library ----------------------------------
_RESERVED = re.compile(r"__.*__", re.DOTALL)


def valid_document_id(text: object, *, max_bytes: int | None = 1500) -> bool:
    """Whether Firestore takes ``text`` as a document id (``max_bytes=None``: any length)."""
    if not isinstance(text, str) or not text or "/" in text or text in (".", ".."):
        return False
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return (max_bytes is None or size <= max_bytes) and not _RESERVED.fullmatch(text)


def storage_problem(value: Any, where: str = "value", in_array: bool = False) -> str | None:
    """Why Firestore would refuse ``value``, or ``None``: encoding, then the server's rules."""
    try:
        _helpers.encode_value(value)._pb.SerializeToString()
    except (TypeError, ValueError) as exc:  # ValueError covers UnicodeEncodeError
        return f"{where}: the client cannot encode it ({type(exc).__name__}: {exc})"
    if isinstance(value, (list, tuple)):
        if in_array:
            return f"{where}: array inside an array"
        for index, item in enumerate(value):
            if problem := storage_problem(item, f"{where}[{index}]", True):
                return problem
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key or _RESERVED.fullmatch(key):
                return f"{where}: key {key!r} is not a valid field name"
            if problem := storage_problem(item, f"{where}.{key}"):
                return problem
    return None


def assert_storable(model: pydantic.BaseModel) -> None:
    """A model that validated must be one Firestore accepts (else it fails later, raw)."""
    if isinstance(model, Document):
        assert valid_document_id(model.document_id()), model.document_id()
        data = model.to_document()
    else:
        data = plain_value(model.model_dump())
    for name, value in data.items():
        if value is SERVER_TIMESTAMP:
            continue
        problem = storage_problem(value, name)
        assert problem is None, f"{type(model).__name__} accepted what Firestore refuses: {problem}"


def expected_errors(cls: type[Any]) -> tuple[type[Exception], ...]:
    return DATACLASS_SETTINGS.get(cls, (fv.InvalidInputError,))


def build_or_typed_error(build: Callable[[], Any], cls: type[Any], shown: object) -> Any:
    """``build()``'s model, or ``None`` after a typed error; any other exception fails."""
    try:
        return build()
    except expected_errors(cls):
        return None
    except Exception as exc:  # the property: nothing else ever escapes
        pytest.fail(f"{cls.__name__} raised {type(exc).__module__}.{type(exc).__name__} "
                    f"instead of InvalidInputError for {shown!r:.300}: {exc!s:.500}",
                    pytrace=False)


# -- the model properties --------------------------------------------------------------------
ALL_INPUTS = [*INPUT_MODELS, *DATACLASS_SETTINGS]


def _fields(cls: type[Any]) -> list[str]:
    if issubclass(cls, pydantic.BaseModel):
        return sorted(cls.model_fields)
    return sorted(f.name for f in dataclasses.fields(cls))


@pytest.mark.parametrize("cls", ALL_INPUTS, ids=lambda cls: cls.__name__)
def test_constructor_gives_model_or_invalid_input(cls: type[Any]) -> None:
    # A dataclass given an unknown keyword raises TypeError, as any Python call does:
    # a programming error, not bad data. Pydantic models take it as data (extra="forbid").
    unknown = issubclass(cls, pydantic.BaseModel)

    @PROPERTY
    @given(kwargs=model_inputs(_fields(cls), unknown=unknown))
    def check(kwargs: dict[str, Any]) -> None:
        model = build_or_typed_error(lambda: cls(**materialize(kwargs)), cls, kwargs)
        if model is not None and isinstance(model, InputModel):
            assert_storable(model)

    check()


PARSED_MODELS = [cls for cls in INPUT_MODELS if issubclass(cls, InputModel)]


@pytest.mark.parametrize("cls", PARSED_MODELS, ids=lambda cls: cls.__name__)
def test_parse_takes_any_value(cls: type[InputModel]) -> None:
    """``parse`` is given whole values: mappings of fields, but also lists, text, None..."""
    inputs = st.one_of(model_inputs(_fields(cls)), json_values, near_misses)

    @PROPERTY
    @given(data=inputs)
    def check(data: Any) -> None:
        model = build_or_typed_error(lambda: cls.parse(materialize(data)), cls, data)
        if model is not None:
            assert_storable(model)

    check()


DOCUMENT_MODELS = [cls for cls in INPUT_MODELS if issubclass(cls, Document)]


@pytest.mark.parametrize("cls", DOCUMENT_MODELS, ids=lambda cls: cls.__name__)
def test_from_document_takes_any_stored_data(cls: type[Document]) -> None:
    """What another client wrote into Firestore: any id, any data (even not a map)."""
    ids = st.one_of(st.text(max_size=30), keys, chat_ids.map(str), user_ids.map(str))
    data = st.one_of(model_inputs(_fields(cls)), json_values, st.none())

    @PROPERTY
    @given(document_id=ids, data=data)
    def check(document_id: str, data: Any) -> None:
        model = build_or_typed_error(
            lambda: cls.from_document(document_id, materialize(data)), cls, (document_id, data))
        if model is not None:
            assert_storable(model)

    check()


#: A valid instance of each plain input model, to assign bad values to.
VALID: dict[str, Callable[[], InputModel]] = {
    "Actor": lambda: fv.Actor(uid="admin-1"),
    "AdminUser": lambda: fv.AdminUser(uid="u1", email="a@example.com"),
    "AuditEntry": lambda: fv.AuditEntry(actor_uid="u1", action="group.create",
                                        resource_type="group"),
    "ChannelInfo": lambda: fv.ChannelInfo(id=-1001, title="News"),
    "ChannelRef": lambda: fv.ChannelRef(channel_id=-1001, title="News"),
    "ConfigEntry": lambda: fv.ConfigEntry(key="cache.jitter", value=0.1),
    "EnforcedChannel": lambda: fv.EnforcedChannel(id=-1001, title="News"),
    "GroupInfo": lambda: fv.GroupInfo(id=-1002, title="Chat"),
    "Owner": lambda: fv.Owner(id=42),
    "OwnerInfo": lambda: fv.OwnerInfo(id=42),
    "ProtectedGroup": lambda: fv.ProtectedGroup(id=-1002, owner_id=42, title="Chat"),
    "Stats": lambda: fv.Stats(),
    "Verification": lambda: fv.Verification(user_id=7, group_id=-1002, status="failed"),
}


def test_every_input_model_has_a_valid_example() -> None:
    assert {cls.__name__ for cls in PARSED_MODELS} == set(VALID)


@pytest.mark.parametrize("name", sorted(VALID))
def test_assigning_a_field_gives_model_or_invalid_input(name: str) -> None:
    """Models validate assignment too: a bad value is the same typed error, and is not kept."""
    example = VALID[name]()
    fields = _fields(type(example))

    @PROPERTY
    @given(field=st.sampled_from(fields), data=st.data())
    def check(field: str, data: st.DataObject) -> None:
        model = VALID[name]()
        before = model.model_dump()
        value = data.draw(field_values(field))

        def assign() -> InputModel:
            setattr(model, field, materialize(value))
            return model

        if build_or_typed_error(assign, type(model), {field: value}) is None:
            assert model.model_dump() == before
        else:
            assert_storable(model)

    check()


@pytest.mark.parametrize(("cls", "kwargs"), [
    (fv.LoggerSettings, {"shards": 0}),
    (fv.LoggerSettings, {"max_writes_per_second": float("nan")}),
    (fv.CacheConfig, {"jitter": 2}),
    (fv.CacheSettings, {"positive_ttl": 10**400}),
    (fv.GroupInfo, {"id": -1, "title": "t", "member_count": 2**64}),
    (fv.Verification, {"user_id": 1, "group_id": -1, "status": "success",
                       "occurred_at": datetime.max.replace(tzinfo=timezone(timedelta(hours=-5)))}),
    (fv.Verification, {"id": "..", "user_id": 1, "group_id": -1, "status": "success"}),
    (fv.ConfigEntry, {"key": "k", "value": {"n": 2**64}}),
    (fv.Owner, {"id": 1, "settings": _nested(5000)}),
    (fv.ProtectedGroup, {"id": -1, "owner_id": 1, "title": "t", "params": {"__x__": 1}}),
], ids=lambda value: value.__name__ if isinstance(value, type) else "")
def test_known_bad_inputs(cls: type[Any], kwargs: dict[str, Any]) -> None:
    """The cases the properties found first, pinned so their failure reads plainly."""
    with pytest.raises(expected_errors(cls)):
        cls(**kwargs)


@PROPERTY
@given(kwargs=model_inputs(_fields(fv.CacheSettings), unknown=False))
def test_cache_settings_that_build_make_a_working_cache(kwargs: dict[str, Any]) -> None:
    """Accepted settings must not blow up later (``10**400`` seconds passes a ``< inf`` check)."""
    settings_ = build_or_typed_error(lambda: fv.CacheSettings(**materialize(kwargs)),
                                     fv.CacheSettings, kwargs)
    if settings_ is not None:
        cache = fv.MembershipCache(settings_)
        cache.set(1, -1, True)
        cache.set(2, -1, False)
        cache.get(1, -1)


# -- the rollup planner ----------------------------------------------------------------------
START = datetime(2024, 2, 27, tzinfo=UTC)  # over a leap day and a month end
GROUPS = (-1001, -1002, -1003)


@st.composite
def event_batches(draw: st.DrawFn, *, days: int, max_events: int = 60,
                  in_order: bool = False) -> list[list[fv.Verification]]:
    """Random events, cut into batches that arrive in a random order (late data included)."""
    count = draw(st.integers(0, max_events))
    events = []
    for index in range(count):
        minute = draw(st.integers(0, days * 24 * 60 - 1) | st.sampled_from(
            [0, 24 * 60 - 1, 24 * 60]))  # the edges of the first days
        offset = draw(_offsets())
        events.append(fv.Verification(
            id=f"e{index}",
            user_id=draw(st.integers(1, 6)),
            group_id=draw(st.sampled_from(GROUPS)),
            status=draw(st.sampled_from(list(fv.Status))),
            occurred_at=(START + timedelta(minutes=minute)).astimezone(offset),
        ))
    if in_order:
        events.sort(key=lambda e: e.occurred_at)
    cuts = sorted(draw(st.lists(st.integers(0, count), max_size=6)))
    batches = [events[a:b] for a, b in zip([0, *cuts], [*cuts, count], strict=True)]
    return batches if in_order else draw(st.permutations(batches))


def _utc_day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def recount(events: list[fv.Verification]) -> dict[str, Any]:
    """Counters, rollups and user states from the raw events, without the planner."""
    daily: dict[str, Counter[str]] = defaultdict(Counter)
    group_daily: dict[str, Counter[str]] = defaultdict(Counter)
    seen: dict[int, set[str]] = defaultdict(set)
    seen_in: dict[tuple[int, int], set[str]] = defaultdict(set)
    first: dict[int, datetime] = {}
    counters: Counter[str] = Counter()
    for event in events:
        day = _utc_day(event.occurred_at)
        hour = f"{event.occurred_at.astimezone(UTC).hour:02d}"
        status = event.status.value
        for counter, names in ((daily[day], ("total", status, f"hours.{hour}.total",
                                             f"hours.{hour}.{status}")),
                               (group_daily[f"{event.group_id}_{day}"], ("total", status))):
            counter.update(names)
        counters.update(["total_verifications", f"{status}_count"])
        seen[event.user_id].add(day)
        seen_in[event.user_id, event.group_id].add(day)
        first[event.user_id] = min(first.get(event.user_id, event.occurred_at),
                                   event.occurred_at)
    for days in seen.values():
        daily[min(days)]["new_users"] += 1
        for day in days:
            daily[day]["unique_users"] += 1
    for (_, group), days in seen_in.items():
        group_daily[f"{group}_{min(days)}"]["new_users"] += 1
        for day in days:
            group_daily[f"{group}_{day}"]["unique_users"] += 1
    counters["total_users"] = len(seen)
    users = {
        user: {
            "first_day": min(days),
            "first_seen_day": _utc_day(first[user]),
            "days": sorted(days),
            "groups": {str(g): sorted(d) for (u, g), d in seen_in.items() if u == user},
            "group_first": {str(g): min(d) for (u, g), d in seen_in.items() if u == user},
        }
        for user, days in seen.items()
    }
    return {"daily": daily, "group_daily": group_daily, "counters": +counters, "users": users}


def _add_increments(total: Counter[str], data: Mapping[str, Any], prefix: str = "") -> None:
    for name, value in data.items():
        if isinstance(value, Increment):
            total[prefix + name] += value.value
        elif isinstance(value, Mapping):
            _add_increments(total, value, f"{prefix}{name}.")


def _check_meta(doc_id: str, data: Mapping[str, Any], grouped: bool) -> None:
    day = doc_id.rsplit("_", 1)[-1] if grouped else doc_id
    assert data["day"] == day
    assert data["date"] == datetime.combine(date.fromisoformat(day), time(0), tzinfo=UTC)
    if grouped:
        assert doc_id == f"{data['group_id']}_{day}"


def run_planner(batches: list[list[fv.Verification]]) -> dict[str, Any]:
    """Plan every batch in turn, carrying user states over as the event writer stores them."""
    stored: dict[int, UserState] = {}
    daily: dict[str, Counter[str]] = defaultdict(Counter)
    group_daily: dict[str, Counter[str]] = defaultdict(Counter)
    counters: Counter[str] = Counter()
    for batch in batches:
        known = {e.user_id: stored.get(e.user_id, UserState()) for e in batch}
        snapshot = {uid: state.to_document() for uid, state in known.items()}
        plan = plan_batch(batch, known)
        assert {uid: state.to_document() for uid, state in known.items()} == snapshot, \
            "plan_batch changed its input states"
        assert sorted(e.id for e in plan.events) == sorted(e.id for e in batch)
        assert [e.occurred_at for e in plan.events] == sorted(e.occurred_at for e in batch)
        assert plan.write_count == (len(batch) + len(plan.daily) + len(plan.group_daily)
                                    + len(plan.users))
        assert set(plan.users) <= {e.user_id for e in batch}
        for doc_id, data in plan.daily.items():
            _check_meta(doc_id, data, grouped=False)
            _add_increments(daily[doc_id], data)
        for doc_id, data in plan.group_daily.items():
            _check_meta(doc_id, data, grouped=True)
            _add_increments(group_daily[doc_id], data)
        counters.update(plan.counters)
        for uid, state in plan.users.items():
            # Round trip through the stored document, as the next batch would read it.
            stored[uid] = UserState.from_document(state.to_document(), update_time=None)
    users = {
        uid: {"first_day": s.first_day, "first_seen_day": _utc_day(s.first_seen),
              "days": s.days, "groups": s.groups, "group_first": s.group_first}
        for uid, s in stored.items() if s.first_seen is not None
    }
    return {"daily": {k: +v for k, v in daily.items()},
            "group_daily": {k: +v for k, v in group_daily.items()},
            "counters": +counters, "users": users}


def assert_planner_matches_recount(batches: list[list[fv.Verification]]) -> None:
    events = [event for batch in batches for event in batch]
    expected = recount(events)
    got = run_planner(batches)
    assert got["counters"] == expected["counters"]
    assert got["daily"] == {k: +v for k, v in expected["daily"].items()}
    assert got["group_daily"] == {k: +v for k, v in expected["group_daily"].items()}
    assert got["users"] == expected["users"]


@PROPERTY
@given(batches=event_batches(days=12))
def test_planner_equals_a_recount_whatever_the_batches_and_their_order(
        batches: list[list[fv.Verification]]) -> None:
    assert_planner_matches_recount(batches)


@PROPERTY
@given(batches=event_batches(days=400, max_events=40, in_order=True))
def test_planner_equals_a_recount_over_more_days_than_a_user_remembers(
        batches: list[list[fv.Verification]]) -> None:
    """Users remember their last 100 days; data arriving in order is still counted exactly."""
    events = [event for batch in batches for event in batch]
    expected = recount(events)
    got = run_planner(batches)
    for user in expected["users"].values():
        user["days"] = user["days"][-100:]
        user["groups"] = {g: d[-100:] for g, d in user["groups"].items()}
    assert got["counters"] == expected["counters"]
    assert got["daily"] == {k: +v for k, v in expected["daily"].items()}
    assert got["group_daily"] == {k: +v for k, v in expected["group_daily"].items()}
    assert got["users"] == expected["users"]


def test_planner_recount_a_hand_made_case() -> None:
    """A backfill (an older event in a later batch) moves "new" back a day."""
    def event(i: int, day: int, user: int = 1, status: str = "success") -> fv.Verification:
        return fv.Verification(id=f"h{i}", user_id=user, group_id=-1001, status=status,
                               occurred_at=START + timedelta(days=day, hours=1))

    batches = [[event(1, 2)], [event(2, 0, status="failed"), event(3, 0, user=2)]]
    got = run_planner(batches)
    assert got["daily"]["2024-02-27"] == Counter(
        {"total": 2, "success": 1, "failed": 1, "hours.01.total": 2, "hours.01.success": 1,
         "hours.01.failed": 1, "unique_users": 2, "new_users": 2})
    assert got["daily"]["2024-02-29"]["new_users"] == 0
    assert_planner_matches_recount(batches)


def test_first_seen_is_the_earliest_event_even_when_it_arrives_late() -> None:
    """``first_seen`` is when the user was first seen, not when that day's first batch ran.

    The property above compares ``first_seen`` by day only; this pins the exact time.
    """
    late = fv.Verification(id="late", user_id=1, group_id=-1001, status="success",
                           occurred_at=START + timedelta(hours=12))
    early = fv.Verification(id="early", user_id=1, group_id=-1001, status="failed",
                            occurred_at=START + timedelta(hours=8))
    first = plan_batch([late], {1: UserState()})
    stored = UserState.from_document(first.users[1].to_document(), update_time=None)
    second = plan_batch([early], {1: stored})
    state = second.users.get(1, stored)
    assert state.first_seen == early.occurred_at


# -- tampered cursors ------------------------------------------------------------------------
def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def b64_text(text: str) -> str:
    return b64(text.encode("utf-8", "surrogatepass"))


#: JSON texts that decode to lists of the right length but hold what Firestore refuses.
NASTY_CURSOR_JSON = [
    '["__x__"]', '["."]', '[".."]', '["\\ud800"]', '["a", "\\ud800"]', '["\\ud800", "a"]',
    f'[{2**64}, "a"]', f'[{-(2**63) - 1}, "a"]', '[{"__x__": 1}, "a"]',
    '[{"$dt": "9999-12-31T23:59:59-05:00"}, "a"]', '[{"$dt": 5}, "a"]', '[{"$dt": null}, "a"]',
    "[" * 50_000 + "]" * 50_000, "[" + "[" * 5_000 + "]" * 5_000 + ', "a"]',
    '["' + "9" * 5_000 + '"]', "[" + "9" * 5_000 + ', "a"]', '[NaN, "a"]', '[1e999, "a"]',
    '[""]', '["a/b"]', '[null]', '[5]', '[true]', '[["a"]]', '[{"k": "v"}]', '"a"', "{}",
    '{"a": "b"}', "null", "[]", '["a", "b", "c", "d"]',
]


def cursor_problem(values: list[Any]) -> str | None:
    """Why Firestore would refuse ``values`` as a ``start_after`` cursor, or ``None``."""
    # The emulator takes over-long ids in a query cursor (it refuses them in writes).
    if not valid_document_id(values[-1], max_bytes=None):
        return f"document id {values[-1]!r:.60}"
    for value in values[:-1]:
        try:
            _helpers.encode_value(value)._pb.SerializeToString()
        except (TypeError, ValueError) as exc:
            return f"value {value!r:.60}: {type(exc).__name__}"
        if isinstance(value, dict) and any(_RESERVED.fullmatch(str(k)) for k in value):
            return f"reserved key in {value!r:.60}"
    return None


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


cursor_texts = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec=None), max_size=30),
    st.binary(max_size=60).map(b64),
    json_values.map(lambda v: b64_text(json.dumps(v))),
    st.lists(st.one_of(json_values, near_misses.filter(_jsonable)), max_size=4)
    .map(lambda v: b64_text(json.dumps(v))),
    st.sampled_from(NASTY_CURSOR_JSON).map(b64_text),
    st.sampled_from(NASTY_CURSOR_JSON).map(lambda t: b64_text(t)[:-1]),  # truncated
    st.sampled_from(NASTY_CURSOR_JSON).map(lambda t: b64_text(t) + "!"),  # junk appended
)


def check_cursor(cursor: str, expected: int) -> None:
    """``_decode_cursor`` gives values Firestore takes, or ``InvalidInputError``; nothing else."""
    try:
        values = _decode_cursor(cursor, expected)
    except fv.InvalidInputError:
        return
    except Exception as exc:  # the property: nothing else ever escapes
        pytest.fail(f"_decode_cursor({cursor!r:.120}) raised {type(exc).__name__}: {exc!s:.200}",
                    pytrace=False)
    assert isinstance(values, list)
    assert len(values) == expected
    problem = cursor_problem(values)
    assert problem is None, f"cursor {cursor!r:.120} accepted, Firestore refuses: {problem}"


@PROPERTY
@given(cursor=cursor_texts, expected=st.integers(1, 3))
def test_decode_cursor_gives_usable_values_or_invalid_input(cursor: str, expected: int) -> None:
    check_cursor(cursor, expected)


@pytest.mark.parametrize("text", NASTY_CURSOR_JSON, ids=lambda t: t[:24])
def test_decode_cursor_nasty_json(text: str) -> None:
    for expected in (1, 2):
        check_cursor(b64_text(text), expected)


def test_cursor_round_trip() -> None:
    """What the listing itself hands out decodes back to the same values."""
    stamp = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    for values in (["-1001"], ["Chat", "-1001"], [stamp, "abc"], [None, 3, "x"]):
        assert _decode_cursor(_encode_cursor(values), len(values)) == values


#: Tampered cursors tried through a real listing (``store.groups.list``).
EMULATOR_CURSORS = [
    ("garbage", "not a cursor!", None),
    ("binary", b64(b"\x00\xff\xfe"), None),
    ("wrong shape", b64_text('{"a": 1}'), None),
    ("too long", b64_text('["a", "b"]'), None),
    ("reserved id", b64_text('["__x__"]'), None),
    ("dot id", b64_text('[".."]'), None),
    ("surrogate id", b64_text('["\\ud800"]'), None),
    ("deep", b64_text("[" * 50_000 + "]" * 50_000), None),
    ("big int", b64_text(f'[{2**64}, "a"]'), "title"),
    ("reserved key", b64_text('[{"__x__": 1}, "a"]'), "title"),
]


@pytest.mark.anyio
async def test_tampered_cursor_through_a_listing(store: fv.Store) -> None:
    await store.groups.protect(group=fv.GroupInfo(id=-1001, title="Alpha"),
                               owner=fv.OwnerInfo(id=42),
                               channels=[fv.ChannelInfo(id=-2001, title="News")])
    await store.groups.protect(group=fv.GroupInfo(id=-1002, title="Beta"),
                               owner=fv.OwnerInfo(id=42),
                               channels=[fv.ChannelInfo(id=-2001, title="News")])
    first = await store.groups.list(limit=1, order_by="title")
    assert first.next_cursor is not None
    second = await store.groups.list(limit=1, order_by="title", cursor=first.next_cursor)
    assert [g.title for g in (*first.items, *second.items)] == ["Alpha", "Beta"]

    wrong: list[str] = []
    for name, cursor, order_by in EMULATOR_CURSORS:
        try:
            await store.groups.list(cursor=cursor, order_by=order_by)
        except fv.InvalidInputError:
            continue
        except Exception as exc:
            wrong.append(f"{name}: {type(exc).__module__}.{type(exc).__name__}: {exc!s:.150}")
        else:
            wrong.append(f"{name}: accepted")
    assert not wrong, "tampered cursors not refused as InvalidInputError:\n" + "\n".join(wrong)
