"""``with_cache``: put a cache in front of an async function.

The decorated function takes a *cache holder* first (anything with a ``cache`` attribute: a
:class:`~theset_daemon.cache.core.Cache` itself, or a context object that also carries the
database), then its own arguments. ``key_fn`` receives those same arguments, without the holder, and
builds the key (with a function of ``keys.py``)::

    @with_cache(keys.artist_by_id, "artist", tags=lambda page: [keys.artist_tag(...)])
    async def artist_page_by_id(reads: Reads, artist_id: UUID) -> dict[str, Any] | None: ...

    page = await artist_page_by_id(reads, artist_id)          # the value
    entry = await artist_page_by_id.entry(reads, artist_id)   # value + JSON bytes + ETag

The function's result must be JSON-shaped (see ``entry.py``); a ``negative`` result (by default
None or empty) is kept for a short time only, and an exception is never kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, cast

from theset_daemon.cache.core import Cache, IsNegative, TagsOf, is_empty
from theset_daemon.cache.entry import Entry
from theset_daemon.cache.keys import Kind

P = ParamSpec("P")
T = TypeVar("T")


class HasCache(Protocol):
    @property
    def cache(self) -> Cache: ...


H = TypeVar("H", bound=HasCache)


class CachedFunction(Generic[H, P, T]):
    def __init__(
        self,
        fn: Callable[Concatenate[H, P], Awaitable[T]],
        key_fn: Callable[P, str],
        kind: Kind,
        tags: TagsOf | None,
        negative: IsNegative,
    ) -> None:
        self.fn = fn
        self.key_fn = key_fn
        self.kind: Kind = kind
        self._tags = tags
        self._negative = negative
        self.__name__ = getattr(fn, "__name__", "cached")
        self.__doc__ = fn.__doc__

    async def __call__(self, holder: H, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return cast(T, (await self.entry(holder, *args, **kwargs)).value)

    async def entry(self, holder: H, /, *args: P.args, **kwargs: P.kwargs) -> Entry:
        """The cached entry: the value with its JSON bytes and ETag (what the read routes send)."""

        async def load() -> Any:
            return await self.fn(holder, *args, **kwargs)

        return await holder.cache.get_entry(
            self.key_fn(*args, **kwargs),
            self.kind,
            load,
            tags=self._tags,
            negative=self._negative,
        )

    def key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        return self.key_fn(*args, **kwargs)

    async def uncached(self, holder: H, /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call the function itself, bypassing (and not filling) the cache."""
        return await self.fn(holder, *args, **kwargs)


def with_cache(
    key_fn: Callable[P, str],
    kind: Kind,
    *,
    tags: TagsOf | None = None,
    negative: IsNegative = is_empty,
) -> Callable[[Callable[Concatenate[H, P], Awaitable[T]]], CachedFunction[H, P, T]]:
    """Cache ``fn``'s results under ``key_fn(*args)`` for the TTL of ``kind`` ([cache.ttl_s])."""

    def decorate(fn: Callable[Concatenate[H, P], Awaitable[T]]) -> CachedFunction[H, P, T]:
        return CachedFunction(fn, key_fn, kind, tags, negative)

    return decorate
