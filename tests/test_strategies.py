"""Eviction strategies: one contract run against every strategy, then each policy's own promises.

The contract tests drive strategies the way the memory store and the simulator
do (``Driver`` below owns the key -> size dict and calls the hooks in the
store's order), so they check what production relies on: the strategy tracks
exactly the stored keys, ``victim()`` only returns tracked keys, and the store
never goes over capacity.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterable

import pytest

from spotify_cache.strategies import BUILTIN, Strategy, make_strategy, resolve_strategy
from spotify_cache.strategies.adaptive import AdaptiveStrategy
from spotify_cache.strategies.lfu import LFUStrategy
from spotify_cache.strategies.lru import LRUStrategy
from spotify_cache.strategies.sketch import MAX_COUNT, FrequencyCounter

NAMES = sorted(BUILTIN)


class Driver:
    """A minimal bounded store: what ``stores.memory`` and ``simulate`` do with a strategy."""

    def __init__(self, strategy: Strategy, capacity: int, *, weighted: bool = False) -> None:
        self.strategy = strategy
        self.capacity = capacity
        self.weighted = weighted
        self.sizes: dict[Hashable, int] = {}
        self.evicted: list[Hashable] = []

    def get(self, key: Hashable) -> bool:
        if key in self.sizes:
            self.strategy.on_hit(key)
            return True
        self.strategy.record_miss(key)
        return False

    def set(self, key: Hashable, size: int = 1) -> None:
        if key in self.sizes:
            self.sizes[key] = size
            self.strategy.on_update(key, size)
        else:
            self.sizes[key] = size
            self.strategy.on_insert(key, size)
        self._evict()

    def fetch(self, key: Hashable, size: int = 1) -> bool:
        """Cache-aside read: a miss stores the key, as the simulator does."""
        hit = self.get(key)
        if not hit:
            self.set(key, size)
        return hit

    def delete(self, key: Hashable) -> None:
        if self.sizes.pop(key, None) is not None:
            self.strategy.on_remove(key)

    def used(self) -> int:
        return sum(self.sizes.values()) if self.weighted else len(self.sizes)

    def _evict(self) -> None:
        while self.used() > self.capacity:
            key = self.strategy.victim()
            assert key in self.sizes, f"victim {key!r} is not stored"
            del self.sizes[key]
            self.evicted.append(key)


def hit_count(driver: Driver, keys: Iterable[Hashable]) -> int:
    return sum(driver.fetch(key) for key in keys)


@pytest.fixture(params=NAMES)
def name(request: pytest.FixtureRequest) -> str:
    return request.param


class TestContract:
    """What every strategy promises the store (run once per built-in strategy)."""

    def test_builds_by_name_and_dotted_path(self, name: str) -> None:
        by_name = make_strategy(name, 10)
        by_path = make_strategy(BUILTIN[name], 10)
        assert type(by_name) is type(by_path)
        assert by_name.name == name
        assert by_name.capacity == 10

    def test_len_follows_inserts_and_removals(self, name: str) -> None:
        strategy = make_strategy(name, 10)
        for key in range(5):
            strategy.on_insert(key, 1)
        assert len(strategy) == 5
        strategy.on_remove(3)
        strategy.on_remove("never stored")
        assert len(strategy) == 4

    def test_victims_are_each_tracked_key_once(self, name: str) -> None:
        strategy = make_strategy(name, 100)
        keys = [f"k{i}" for i in range(20)]
        for key in keys:
            strategy.on_insert(key, 1)
        for key in keys[::3]:
            strategy.on_hit(key)
        victims = [strategy.victim() for _ in keys]
        assert sorted(victims) == sorted(keys)
        assert len(strategy) == 0
        with pytest.raises(KeyError):
            strategy.victim()

    def test_removed_key_is_never_a_victim(self, name: str) -> None:
        strategy = make_strategy(name, 100)
        for key in "abcde":
            strategy.on_insert(key, 1)
        strategy.on_remove("a")
        strategy.on_remove("c")
        assert {strategy.victim() for _ in range(3)} == {"b", "d", "e"}

    def test_clear_forgets_everything_and_stays_usable(self, name: str) -> None:
        strategy = make_strategy(name, 10)
        for key in range(8):
            strategy.on_insert(key, 1)
            strategy.on_hit(key)
        strategy.clear()
        assert len(strategy) == 0
        with pytest.raises(KeyError):
            strategy.victim()
        strategy.on_insert("fresh", 1)
        assert strategy.victim() == "fresh"

    @pytest.mark.parametrize("weighted", [False, True])
    def test_tracks_exactly_what_a_store_keeps(self, name: str, weighted: bool) -> None:
        capacity = 400 if weighted else 40
        strategy = make_strategy(name, capacity, weighted=weighted)
        driver = Driver(strategy, capacity, weighted=weighted)
        rng = random.Random(7)
        for _ in range(5000):
            key = int(rng.paretovariate(1.2)) % 300
            action = rng.random()
            size = rng.randint(1, 30) if weighted else 1
            if action < 0.7:
                driver.fetch(key, size)
            elif action < 0.9:
                driver.set(key, size)
            else:
                driver.delete(key)
            assert driver.used() <= capacity
        assert len(driver.strategy) == len(driver.sizes)
        drained = {driver.strategy.victim() for _ in range(len(driver.sizes))}
        assert drained == set(driver.sizes)

    def test_new_key_is_stored_or_refused_never_lost(self, name: str) -> None:
        """On overflow the victim is an older key, or the new one (refused admission)."""
        driver = Driver(make_strategy(name, 5), 5)
        for key in range(5):
            driver.fetch(key)
        for key in range(5, 50):
            driver.fetch(key)
            assert len(driver.sizes) == 5
            assert key in driver.sizes or driver.evicted[-1] == key


class TestLRU:
    def test_evicts_least_recently_used_first(self) -> None:
        strategy = LRUStrategy(10)
        for key in "abcd":
            strategy.on_insert(key, 1)
        strategy.on_hit("a")
        strategy.on_hit("c")
        assert [strategy.victim() for _ in range(4)] == ["b", "d", "a", "c"]


class TestLFU:
    def test_evicts_least_frequent_and_breaks_ties_by_recency(self) -> None:
        strategy = LFUStrategy(10)
        for key in "abcd":
            strategy.on_insert(key, 1)
        for key in "ddcab":
            strategy.on_hit(key)
        # counts: a=2 b=2 c=2 d=3; among the 2s, c was touched longest ago
        assert [strategy.victim() for _ in range(4)] == ["c", "a", "b", "d"]

    def test_always_admits_new_keys(self) -> None:
        driver = Driver(LFUStrategy(3), 3)
        for key in "abc":
            driver.fetch(key)
            driver.fetch(key)
        driver.fetch("new")
        assert "new" in driver.sizes

    @staticmethod
    def _formerly_hot_victim(aging_period: int) -> Hashable:
        strategy = LFUStrategy(4, aging_period=aging_period)
        strategy.on_insert("hot", 1)
        for _ in range(500):
            strategy.on_hit("hot")
        for key in "abc":
            strategy.on_insert(key, 1)
        for _ in range(100):  # the traffic moves to a, b and c
            for key in "abc":
                strategy.on_hit(key)
        strategy.on_insert("new", 1)
        return strategy.victim()

    def test_aging_lets_a_formerly_hot_key_go(self) -> None:
        assert self._formerly_hot_victim(aging_period=20) == "hot"

    def test_without_aging_the_old_count_would_pin_it(self) -> None:
        # The same history with aging effectively off: "hot" keeps its 501 hits and
        # outranks the keys in use now, so one of those goes instead.
        assert self._formerly_hot_victim(aging_period=10**9) == "a"

    def test_aging_halves_counts_and_keeps_recency_order(self) -> None:
        strategy = LFUStrategy(10, aging_period=10**9)
        for key in "cab":
            strategy.on_insert(key, 1)
        for key in "aaaabbbbbc":
            strategy.on_hit(key)
        strategy._age()
        assert [strategy.frequency(k) for k in "abc"] == [3, 3, 1]
        # a (5 -> 3) and b (6 -> 3) share a bucket; a was touched before b
        assert [strategy.victim() for _ in range(3)] == ["c", "a", "b"]


class TestSketch:
    def test_counts_saturate_and_halve_after_a_sample(self) -> None:
        counter = FrequencyCounter(sample_size=100)
        for _ in range(40):
            counter.increment("x")
        assert counter.frequency("x") == MAX_COUNT
        counter.increment("y")
        for _ in range(59):
            counter.increment("z")  # the 100th update triggers the halving
        assert counter.frequency("x") == MAX_COUNT // 2
        assert counter.frequency("y") == 0
        assert "y" not in counter._counts

    def test_touch_counts_only_unseen_keys(self) -> None:
        counter = FrequencyCounter(sample_size=100)
        counter.touch("a")
        counter.increment("b")
        counter.touch("b")
        assert (counter.frequency("a"), counter.frequency("b")) == (1, 1)


class TestAdaptive:
    @staticmethod
    def _survivors_of_scan(name: str) -> int:
        """A 50-key working set used 20 times, then a 2000-key one-pass scan."""
        driver = Driver(make_strategy(name, 100), 100)
        working_set = [f"hot{i}" for i in range(50)]
        for _ in range(20):
            hit_count(driver, working_set)
        hit_count(driver, (f"scan{i}" for i in range(2000)))
        return sum(key in driver.sizes for key in working_set)

    def test_scan_does_not_flush_the_working_set(self) -> None:
        assert self._survivors_of_scan("adaptive") >= 45

    def test_the_same_scan_flushes_lru(self) -> None:
        # Shows the scan above is a real threat: plain LRU loses the whole set.
        assert self._survivors_of_scan("lru") == 0

    def test_recency_workload_grows_the_window(self) -> None:
        """Every key is read twice ~80 requests apart: only a large window catches the reuse."""
        capacity = 100
        lru = Driver(LRUStrategy(capacity), capacity)
        adaptive = Driver(AdaptiveStrategy(capacity), capacity)
        stream = _reuse_once(6000, distance=40)
        lru_hits, adaptive_hits = hit_count(lru, stream), hit_count(adaptive, stream)
        strategy = adaptive.strategy
        assert isinstance(strategy, AdaptiveStrategy)
        assert strategy.window_size > 0.3 * capacity
        assert adaptive_hits > 0.7 * lru_hits

    def test_static_window_misses_that_reuse(self) -> None:
        # Contrast for the test above: with learning off the 1% window loses most reuse.
        capacity = 100
        fixed = Driver(AdaptiveStrategy(capacity, step=0, ghost_gain=0), capacity)
        lru = Driver(LRUStrategy(capacity), capacity)
        stream = _reuse_once(6000, distance=40)
        assert hit_count(fixed, stream) < 0.5 * hit_count(lru, stream)

    def test_one_hit_wonders_are_refused_admission(self) -> None:
        driver = Driver(AdaptiveStrategy(10), 10)
        for _ in range(3):
            hit_count(driver, range(10))
        hit_count(driver, (f"once{i}" for i in range(20)))
        assert sum(key in driver.sizes for key in range(10)) >= 9
        assert "once5" in driver.evicted

    def test_weighted_update_changes_the_accounted_size(self) -> None:
        driver = Driver(AdaptiveStrategy(100, weighted=True), 100, weighted=True)
        for key in "abcd":
            driver.set(key, 20)
        driver.set("a", 50)  # grows past the budget: someone must go
        assert driver.used() <= 100
        assert len(driver.strategy) == len(driver.sizes)


def _reuse_once(count: int, *, distance: int) -> list[str]:
    """Keys k0, k1, ... each requested a second time ``distance`` requests later."""
    stream: list[str] = []
    for index in range(count):
        stream.append(f"k{index}")
        if index >= distance:
            stream.append(f"k{index - distance}")
    return stream


def test_resolve_accepts_class_and_instance_and_rejects_others() -> None:
    instance = LRUStrategy(3)
    assert resolve_strategy(instance)(99) is instance
    assert isinstance(make_strategy(LFUStrategy, 5), LFUStrategy)
    with pytest.raises(ValueError):
        make_strategy("nope", 5)
    with pytest.raises(ValueError):
        make_strategy("spotify_cache.strategies.lru.Missing", 5)
