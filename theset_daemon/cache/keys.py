"""Every cache key, tag, pattern and channel name, built here and nowhere else.

A *key* is the logical name of one cached document (``artist:id:<uuid>``); the memory tier uses it
as is, and Redis stores it under :data:`NAMESPACE` (:func:`redis_key`). A *tag* names a group of
keys that change together (every key about one artist); a *pattern* is a glob over logical keys
(``trending:*``). Keys are built from validated values only (uuids, slugs the read routes checked,
fixed words), so they never hold glob characters, spaces or newlines.

Bump :data:`NAMESPACE`'s version when the shape of a cached document changes: the old entries are
then simply never read again and expire on their own.
"""

from __future__ import annotations

from typing import Literal, get_args
from uuid import UUID

#: The kinds of cached data; each has its TTL in ``[cache.ttl_s]``.
Kind = Literal["artist", "show", "songs", "setlists", "trending"]
KINDS: tuple[Kind, ...] = get_args(Kind)

#: Trending windows of ``GET /api/trending/artists``.
Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = get_args(Period)

#: Prefix of every Redis key the daemon writes (data, tag sets, the generation counter).
NAMESPACE = "theset:v1:"
#: Pub/sub channel that carries invalidations to every instance's memory tier.
INVALIDATION_CHANNEL = NAMESPACE + "invalidations"
#: Counter bumped by every invalidation; a load only lands in Redis if it did not move meanwhile.
GENERATION_KEY = NAMESPACE + "generation"
_TAG_PREFIX = NAMESPACE + "tag:"

#: Every trending list (invalidated at once when ``calculate-trending`` recomputes the scores).
TRENDING_PATTERN = "trending:*"
#: Everything (used to catch up after more invalidations were missed than could be remembered).
ALL_PATTERN = "*"


def redis_key(key: str) -> str:
    return NAMESPACE + key


def redis_pattern(pattern: str) -> str:
    return NAMESPACE + pattern


def tag_set_key(tag: str) -> str:
    """The Redis set that lists the keys carrying ``tag``."""
    return _TAG_PREFIX + tag


# --- documents ---------------------------------------------------------------------------------


def artist_by_id(artist_id: UUID) -> str:
    """The artist page (artist, upcoming shows, top songs) asked for by id."""
    return f"artist:id:{artist_id}"


def artist_by_slug(slug: str) -> str:
    """The same page asked for by slug (a separate key: both carry the artist's tag)."""
    return f"artist:slug:{slug}"


def trending_ranking(period: Period) -> str:
    """The top 100 artists of one trending window (the one database query per window)."""
    return f"trending:artists:{period}"


def trending_artists(period: Period, limit: int) -> str:
    """The first ``limit`` of :func:`trending_ranking`, as ``GET /api/trending/artists`` sends."""
    return f"trending:artists:{period}:{limit}"


# --- tags --------------------------------------------------------------------------------------


def artist_tag(artist_id: UUID | str) -> str:
    """Carried by every key whose document shows this artist: a sync that changes it drops them."""
    return f"artist:{artist_id}"
