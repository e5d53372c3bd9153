"""An artist's new releases, cheaply: the jobs' releases refresh (update-active-artists, and
complete-catalog-sync's artist sync).

The newest page of the artist's releases (``/artists/{id}/albums``, album+single+compilation,
newest first within each group) says by its ``total`` whether anything was released or removed
since we stored ``artists.total_albums``: an unchanged artist costs that one request. When the
total moved, only the releases we hold no song from are fetched (``/albums?ids=``), paging further
down the list only while the new ones are not all found; their songs go through the catalog
refresh's rules (:func:`~theset_daemon.refresh.new_release_songs`). Nothing is deleted: a partial
read never retires a song (the daily discography sync of trending artists re-reads everything).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from theset_daemon.catalog import release_date
from theset_daemon.refresh.discography import NewReleases, new_release_songs
from theset_daemon.upstream.clients import Upstreams
from theset_daemon.upstream.spotify import AlbumSummary


@dataclass(frozen=True, slots=True)
class Releases:
    """The Spotify part of an artist: its release count and the songs of its new releases."""

    total: int
    news: NewReleases | None


async def read_releases(
    up: Upstreams, pool: asyncpg.Pool, artist_id: UUID, spotify_id: str, total_albums: int
) -> Releases:
    """The artist's release count now, and the songs of the releases new since ``total_albums``
    (None when there are none). An upstream failure raises: nothing of it is stored."""
    first = await up.spotify.artist_albums_page(spotify_id)
    new_albums: list[AlbumSummary] = []
    if first.total != total_albums:
        new_albums = await _new_releases(
            up, pool, artist_id, spotify_id, total_albums, first.items, first.total
        )
    news = await new_release_songs(up, new_albums) if new_albums else None
    return Releases(first.total, news)


async def _new_releases(
    up: Upstreams,
    pool: asyncpg.Pool,
    artist_id: UUID,
    spotify_id: str,
    total_albums: int,
    first_page: list[AlbumSummary],
    total: int,
) -> list[AlbumSummary]:
    """The ``total - total_albums`` newest releases on the artist's list that we hold no song
    from, looked for from the top of the list down, no further than needed (a removal reads
    just the first page).

    "No song from" is not "new" on its own: a compilation of songs we already have leaves no song
    row of its own, so among the releases we hold nothing from, the newest (by release date) are
    taken as the new ones. The daily discography sync re-reads everything, so a rare wrong guess
    (an old release re-dated, say) lasts a day at most.
    """
    known = {
        r["album_id"]
        for r in await pool.fetch(
            "SELECT DISTINCT album_id FROM songs WHERE artist_id = $1 AND album_id IS NOT NULL",
            artist_id,
        )
    }
    wanted = max(0, total - total_albums)
    found = [a for a in first_page if a.id not in known]
    offset = len(first_page)
    while len(found) < wanted and offset < total:
        page = await up.spotify.artist_albums_page(spotify_id, offset=offset)
        if not page.items:
            break
        found.extend(a for a in page.items if a.id not in known)
        offset += len(page.items)
    # Newest first; a release of unknown date counts as the oldest.
    found.sort(key=lambda a: release_date(a.release_date) or dt.date.min, reverse=True)
    return found[:wanted]
