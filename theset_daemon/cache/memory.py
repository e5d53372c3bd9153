"""The in-memory tier: an LRU bounded by ``cache.memory_max_entries``, with a TTL per entry, a tag
index and glob deletion.

Hand-written because the libraries on offer each miss a piece we need: ``functools.lru_cache`` has
no TTL and no deletion by key; cachetools' ``TTLCache`` has one TTL for all entries and
``TLRUCache`` no tag index; none deletes by tag or by pattern. An ``OrderedDict`` plus a
tag -> keys index gives every operation in O(1) (O(n) for a pattern, which only the hourly trending
invalidation uses), in under a hundred lines.

Not thread-safe, by design: the daemon has one event loop and nothing here awaits.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from theset_daemon.cache.entry import Entry
from theset_daemon.cache.keys import Kind

_GLOB_CHARS = frozenset("*?[")


@dataclass(slots=True)
class Slot:
    entry: Entry
    kind: Kind
    #: Clock reading when stored: a TTL lowered by a reload applies to entries already here.
    stored_at: float
    expires_at: float


class MemoryTier:
    def __init__(self, max_entries: int, on_evict: Callable[[], None] | None = None) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._slots: OrderedDict[str, Slot] = OrderedDict()
        self._tagged: dict[str, set[str]] = {}
        self._on_evict = on_evict

    def __len__(self) -> int:
        return len(self._slots)

    def get(self, key: str, now: float) -> Slot | None:
        """The live slot of ``key``, now the most recently used; an expired one is dropped."""
        slot = self._slots.get(key)
        if slot is None:
            return None
        if now >= slot.expires_at:
            self._remove(key, slot)
            return None
        self._slots.move_to_end(key)
        return slot

    def peek(self, key: str, now: float) -> Slot | None:
        """Like :meth:`get`, without touching the LRU order or dropping anything."""
        slot = self._slots.get(key)
        return slot if slot is not None and now < slot.expires_at else None

    def put(self, key: str, slot: Slot) -> None:
        old = self._slots.pop(key, None)
        if old is not None:
            self._untag(key, old)
        self._slots[key] = slot
        for tag in slot.entry.tags:
            self._tagged.setdefault(tag, set()).add(key)
        while len(self._slots) > self.max_entries:
            lru_key, lru_slot = self._slots.popitem(last=False)
            self._untag(lru_key, lru_slot)
            if self._on_evict is not None:
                self._on_evict()

    def delete(self, key: str) -> bool:
        slot = self._slots.get(key)
        if slot is None:
            return False
        self._remove(key, slot)
        return True

    def drop_tags(self, tags: Iterable[str]) -> int:
        dropped = 0
        for tag in tags:
            for key in self._tagged.pop(tag, set()):
                slot = self._slots.get(key)
                if slot is not None:
                    self._remove(key, slot)
                    dropped += 1
        return dropped

    def drop_patterns(self, patterns: Iterable[str]) -> int:
        matchers = [_matcher(p) for p in patterns]
        doomed = [key for key in self._slots if any(match(key) for match in matchers)]
        for key in doomed:
            self._remove(key, self._slots[key])
        return len(doomed)

    def clear(self) -> int:
        count = len(self._slots)
        self._slots.clear()
        self._tagged.clear()
        return count

    def _remove(self, key: str, slot: Slot) -> None:
        del self._slots[key]
        self._untag(key, slot)

    def _untag(self, key: str, slot: Slot) -> None:
        for tag in slot.entry.tags:
            keys = self._tagged.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tagged[tag]


def _matcher(pattern: str) -> Callable[[str], bool]:
    head = pattern[:-1]
    if pattern.endswith("*") and not _GLOB_CHARS.intersection(head):
        return lambda key: key.startswith(head)  # "trending:*": a prefix test, not a glob
    return lambda key: fnmatchcase(key, pattern)
