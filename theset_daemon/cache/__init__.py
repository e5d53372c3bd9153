"""The two-tier cache (memory always, Redis when ``redis.url`` is set) and the cached reads.

- :mod:`.keys`: every key, tag, pattern and channel name.
- :mod:`.core`: :class:`Cache` and :func:`open_cache` (tiers, TTLs, single flight, invalidation).
- :mod:`.cached`: the :func:`with_cache` decorator.
- :mod:`.reads`: the documents the read routes serve, and :func:`warm_trending`.
"""

from theset_daemon.cache.cached import CachedFunction, HasCache, with_cache
from theset_daemon.cache.core import NEGATIVE_TTL_S, Cache, is_empty, open_cache
from theset_daemon.cache.entry import Entry

__all__ = [
    "NEGATIVE_TTL_S",
    "Cache",
    "CachedFunction",
    "Entry",
    "HasCache",
    "is_empty",
    "open_cache",
    "with_cache",
]
