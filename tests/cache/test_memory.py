"""The memory tier alone: LRU bound, TTL, tags, patterns (pure, no I/O)."""

from __future__ import annotations

from theset_daemon.cache.entry import from_wire, make_entry, to_wire
from theset_daemon.cache.memory import MemoryTier, Slot


def slot(value: object, now: float = 0.0, ttl: float = 60.0, tags: tuple[str, ...] = ()) -> Slot:
    return Slot(make_entry(value, tags), "artist", now, now + ttl)


def test_lru_bound_evicts_least_recently_used() -> None:
    evicted: list[int] = []
    tier = MemoryTier(3, on_evict=lambda: evicted.append(1))
    for key in "abc":
        tier.put(key, slot(key))
    assert tier.get("a", 1.0) is not None  # a is now the most recently used
    tier.put("d", slot("d"))
    tier.put("e", slot("e"))
    assert len(tier) == 3 and len(evicted) == 2
    assert tier.get("b", 1.0) is None and tier.get("c", 1.0) is None
    assert all(tier.get(key, 1.0) is not None for key in "ade")


def test_expired_entries_are_gone() -> None:
    tier = MemoryTier(10)
    tier.put("a", slot("a", now=0.0, ttl=5.0))
    assert tier.get("a", 4.9) is not None
    assert tier.peek("a", 5.0) is None
    assert tier.get("a", 5.0) is None and len(tier) == 0


def test_tags_and_patterns() -> None:
    tier = MemoryTier(10)
    tier.put("artist:id:1", slot(1, tags=("artist:1",)))
    tier.put("artist:slug:one", slot(1, tags=("artist:1",)))
    tier.put("artist:id:2", slot(2, tags=("artist:2",)))
    tier.put("trending:artists:week", slot([1, 2], tags=("artist:1", "artist:2")))
    tier.put("trending:artists:day:5", slot([2], tags=("artist:2",)))
    assert tier.drop_tags(["artist:1"]) == 3
    assert sorted(tier._slots) == ["artist:id:2", "trending:artists:day:5"]
    assert tier.drop_patterns(["trending:*"]) == 1
    assert list(tier._slots) == ["artist:id:2"]
    assert tier.drop_patterns(["artist:id:?"]) == 1 and len(tier) == 0
    assert tier._tagged == {}  # the index never outlives its keys


def test_replacing_a_key_retags_it() -> None:
    tier = MemoryTier(10)
    tier.put("k", slot(1, tags=("old",)))
    tier.put("k", slot(2, tags=("new",)))
    assert tier.drop_tags(["old"]) == 0
    assert tier.drop_tags(["new"]) == 1


def test_wire_format_round_trips() -> None:
    entry = make_entry({"name": "Sigur Rós", "n": [1, 2.5, None]}, ("artist:1", "artist:2"))
    back = from_wire(to_wire(entry))
    assert back == entry
    negative = make_entry(None, negative=True)
    assert from_wire(to_wire(negative)) == negative
    assert from_wire(b"garbage") is None and from_wire(b"1- \n{not json") is None
