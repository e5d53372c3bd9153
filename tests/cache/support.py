"""Helpers of the cache tests: settings, a fake clock, a counting loader."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from theset_daemon import config
from theset_daemon.cache import Cache
from theset_daemon.cache.keys import Kind
from theset_daemon.config import SettingsHolder


def settings(
    redis_url: str | None = None, *, max_entries: int = 1000, **ttl_s: int
) -> config.Settings:
    ttls = "".join(f"{kind} = {seconds}\n" for kind, seconds in ttl_s.items())
    text = f"[cache]\nmemory_max_entries = {max_entries}\n[cache.ttl_s]\n{ttls}"
    return config.parse(text, {"REDIS_URL": redis_url} if redis_url else {})


def holder(
    redis_url: str | None = None, *, max_entries: int = 1000, **ttl_s: int
) -> SettingsHolder:
    return SettingsHolder(settings(redis_url, max_entries=max_entries, **ttl_s), Path("-"))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Loader:
    """A loader that counts its calls and returns what it is told to."""

    def __init__(self, value: object = None, *, delay_s: float = 0.0) -> None:
        self.value = value
        self.delay_s = delay_s
        self.calls = 0

    async def __call__(self) -> object:
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self.value


async def value_of(
    cache: Cache, key: str, kind: Kind, load: Callable[[], Awaitable[Any]], **options: Any
) -> Any:
    """The value under ``key`` (:meth:`Cache.get_entry`'s, loaded with ``load`` on a miss)."""
    return (await cache.get_entry(key, kind, load, **options)).value
