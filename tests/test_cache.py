"""MembershipCache: TTLs, jitter, LRU eviction, invalidation, stats and env settings."""

from __future__ import annotations

import random

import pytest

from firestore_verify.cache import CacheSettings, CacheStats, MembershipCache
from firestore_verify.errors import ConfigurationError

USER, OTHER = 7, 8
CHANNEL, CHANNEL2 = -1001, -1002


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FixedRandom(random.Random):
    """uniform(a, b) always returns the point at ``fraction`` of the way from a to b."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return a + (b - a) * self.fraction


def make(
    clock: FakeClock, *, jitter: float = 0.0, rng: random.Random | None = None, **kw: int
) -> MembershipCache:
    return MembershipCache(CacheSettings(jitter=jitter, **kw), clock=clock, rng=rng)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_defaults() -> None:
    settings = CacheSettings()
    assert (settings.positive_ttl, settings.negative_ttl) == (600, 60)
    assert settings.jitter == 0.15
    assert settings.max_entries == 100_000
    assert MembershipCache().settings == settings


def test_miss_then_hit_for_both_answers(clock: FakeClock) -> None:
    cache = make(clock)
    assert cache.get(USER, CHANNEL) is None
    cache.set(USER, CHANNEL, True)
    cache.set(OTHER, CHANNEL, False)
    assert cache.get(USER, CHANNEL) is True
    assert cache.get(OTHER, CHANNEL) is False  # a cached "no" is an answer, not a miss
    assert cache.get(USER, CHANNEL2) is None
    assert cache.stats == CacheStats(hits=2, misses=2, evictions=0, size=2)
    assert cache.stats.hit_rate == 0.5


def test_positive_answer_expires_after_positive_ttl(clock: FakeClock) -> None:
    cache = make(clock)
    cache.set(USER, CHANNEL, True)
    clock.advance(599.9)
    assert cache.get(USER, CHANNEL) is True
    clock.advance(0.1)
    assert cache.get(USER, CHANNEL) is None
    assert len(cache) == 0  # the expired entry was dropped, not just hidden


def test_negative_answer_expires_after_the_shorter_negative_ttl(clock: FakeClock) -> None:
    cache = make(clock)
    cache.set(USER, CHANNEL, False)
    cache.set(USER, CHANNEL2, True)
    clock.advance(59.9)
    assert cache.get(USER, CHANNEL) is False
    clock.advance(0.1)
    assert cache.get(USER, CHANNEL) is None
    assert cache.get(USER, CHANNEL2) is True


def test_set_overwrites_answer_and_restarts_ttl(clock: FakeClock) -> None:
    cache = make(clock)
    cache.set(USER, CHANNEL, False)
    clock.advance(50)
    cache.set(USER, CHANNEL, True)  # the user joined: now the positive TTL applies
    clock.advance(500)
    assert cache.get(USER, CHANNEL) is True
    assert len(cache) == 1


def test_zero_ttl_disables_that_kind_of_answer(clock: FakeClock) -> None:
    cache = MembershipCache(CacheSettings(negative_ttl=0), clock=clock)
    cache.set(USER, CHANNEL, True)
    cache.set(USER, CHANNEL, False)  # also forgets the older positive answer
    assert cache.get(USER, CHANNEL) is None
    assert len(cache) == 0


@pytest.mark.parametrize(("fraction", "expected_ttl"), [(0.0, 510.0), (0.5, 600.0), (1.0, 690.0)])
def test_jitter_scales_ttl_within_bounds(
    clock: FakeClock, fraction: float, expected_ttl: float
) -> None:
    rng = FixedRandom(fraction)
    cache = make(clock, jitter=0.15, rng=rng)
    cache.set(USER, CHANNEL, True)
    assert rng.calls == [pytest.approx((0.85, 1.15))]
    clock.advance(expected_ttl - 0.001)
    assert cache.get(USER, CHANNEL) is True
    clock.advance(0.001)
    assert cache.get(USER, CHANNEL) is None


def test_jitter_spreads_real_random_ttls_within_bounds(clock: FakeClock) -> None:
    cache = make(clock, jitter=0.2, rng=random.Random(42), max_entries=1000)
    for user in range(1000):
        cache.set(user, CHANNEL, False)  # negative TTL 60 s -> each expires in [48, 72]
    clock.advance(47.999)
    assert all(cache.get(user, CHANNEL) is False for user in range(1000))
    clock.advance(12.001)  # t = 60: about half have expired
    alive = sum(cache.get(user, CHANNEL) is not None for user in range(1000))
    assert 350 < alive < 650
    clock.advance(12)  # t = 72: all gone
    assert all(cache.get(user, CHANNEL) is None for user in range(1000))


def test_lru_evicts_least_recently_used(clock: FakeClock) -> None:
    cache = make(clock, max_entries=3)
    cache.set(1, CHANNEL, True)
    cache.set(2, CHANNEL, True)
    cache.set(3, CHANNEL, False)
    assert cache.get(1, CHANNEL) is True  # 1 is now the most recently used; 2 is the oldest
    cache.set(4, CHANNEL, True)
    assert len(cache) == 3
    assert cache.get(2, CHANNEL) is None
    assert [cache.get(u, CHANNEL) for u in (1, 3, 4)] == [True, False, True]
    assert cache.stats.evictions == 1
    cache.set(3, CHANNEL, True)  # overwriting is a use too: 1 is the oldest now
    cache.set(5, CHANNEL, True)
    assert cache.get(1, CHANNEL) is None
    assert cache.stats.evictions == 2


def test_invalidate_one_channel_or_all_of_a_users(clock: FakeClock) -> None:
    cache = make(clock)
    for user in (USER, OTHER):
        for channel in (CHANNEL, CHANNEL2):
            cache.set(user, channel, True)
    cache.invalidate(USER, CHANNEL)
    assert cache.get(USER, CHANNEL) is None
    assert cache.get(USER, CHANNEL2) is True
    cache.invalidate(OTHER)
    assert cache.get(OTHER, CHANNEL) is None
    assert cache.get(OTHER, CHANNEL2) is None
    assert cache.get(USER, CHANNEL2) is True
    cache.invalidate(12345)  # unknown user: nothing happens
    cache.invalidate(USER, -999)
    assert len(cache) == 1


def test_invalidate_channel(clock: FakeClock) -> None:
    cache = make(clock)
    for user in (USER, OTHER):
        cache.set(user, CHANNEL, True)
        cache.set(user, CHANNEL2, False)
    cache.invalidate_channel(CHANNEL)
    assert [cache.get(u, CHANNEL) for u in (USER, OTHER)] == [None, None]
    assert [cache.get(u, CHANNEL2) for u in (USER, OTHER)] == [False, False]
    cache.invalidate(USER)
    cache.invalidate_channel(CHANNEL2)
    assert len(cache) == 0


def test_expiry_and_eviction_leave_no_stale_index_entries(clock: FakeClock) -> None:
    cache = make(clock, max_entries=2)
    cache.set(1, CHANNEL, False)
    cache.set(2, CHANNEL, True)
    cache.set(3, CHANNEL2, True)  # evicts (1, CHANNEL)
    clock.advance(600)
    assert cache.get(2, CHANNEL) is None  # expired and dropped
    cache.invalidate(1)
    cache.invalidate_channel(CHANNEL)
    assert cache.get(3, CHANNEL2) is None
    # Nothing is held for users or channels that have no entries left (no slow leak).
    assert len(cache) == 0
    assert cache._by_user == {}
    assert cache._by_channel == {}


def test_clear_keeps_counters(clock: FakeClock) -> None:
    cache = make(clock)
    cache.set(USER, CHANNEL, True)
    cache.get(USER, CHANNEL)
    cache.clear()
    assert cache.get(USER, CHANNEL) is None
    assert cache.stats == CacheStats(hits=1, misses=1, evictions=0, size=0)
    cache.set(USER, CHANNEL, True)  # usable after clear
    cache.invalidate(USER)
    assert len(cache) == 0


def test_hit_rate_before_any_lookup() -> None:
    assert MembershipCache().stats.hit_rate == 0.0


def test_from_env_reads_all_variables() -> None:
    settings = CacheSettings.from_env(
        {
            "FV_CACHE_POSITIVE_TTL": "300",
            "FV_CACHE_NEGATIVE_TTL": " 12.5 ",
            "FV_CACHE_JITTER": "0",
            "FV_CACHE_MAX_ENTRIES": "500",
        }
    )
    assert settings == CacheSettings(positive_ttl=300, negative_ttl=12.5, jitter=0, max_entries=500)


def test_from_env_empty_keeps_defaults() -> None:
    assert CacheSettings.from_env({}) == CacheSettings()
    assert CacheSettings.from_env({"FV_CACHE_JITTER": ""}) == CacheSettings()


def test_from_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FV_CACHE_NEGATIVE_TTL", "5")
    assert CacheSettings.from_env().negative_ttl == 5


@pytest.mark.parametrize(
    ("var", "raw", "message"),
    [
        ("FV_CACHE_POSITIVE_TTL", "ten", "FV_CACHE_POSITIVE_TTL must be a number, got 'ten'"),
        ("FV_CACHE_POSITIVE_TTL", "-1", "FV_CACHE_POSITIVE_TTL must be a finite number >= 0"),
        ("FV_CACHE_NEGATIVE_TTL", "inf", "FV_CACHE_NEGATIVE_TTL must be a finite number >= 0"),
        ("FV_CACHE_NEGATIVE_TTL", "nan", "FV_CACHE_NEGATIVE_TTL must be a finite number >= 0"),
        ("FV_CACHE_JITTER", "1", "FV_CACHE_JITTER must be a finite number in [0, 1)"),
        ("FV_CACHE_JITTER", "-0.1", "FV_CACHE_JITTER must be a finite number in [0, 1)"),
        ("FV_CACHE_MAX_ENTRIES", "1.5", "FV_CACHE_MAX_ENTRIES must be an integer, got '1.5'"),
        ("FV_CACHE_MAX_ENTRIES", "0", "FV_CACHE_MAX_ENTRIES must be an integer >= 1"),
    ],
)
def test_from_env_rejects_bad_values(var: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        CacheSettings.from_env({var: raw})
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    "kwargs",
    [{"positive_ttl": -1}, {"jitter": 1.0}, {"max_entries": 0}, {"max_entries": True}],
)
def test_settings_validate_direct_construction(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(kwargs))):
        CacheSettings(**kwargs)  # type: ignore[arg-type]
