"""An artist's song catalog, from Spotify.

- :func:`refresh_discography` (the import's phase 3, trending-artist-sync) reads every release
  (album, single, compilation) with all its tracks, keeps one song per :func:`song_key` (the copy
  :func:`choose_canonical` prefers, album art by :func:`best_image_url`), stores them, and, when
  the read was complete, retires the artist's songs that are no longer in it: never one a setlist
  lists or a vote refers to (``db.catalog.remove_stale_songs``).
- :func:`new_release_songs` and :func:`store_new_songs` (update-active-artists) read only the
  releases found new, by the same rules, and add their songs: a partial read never replaces or
  removes a song (a studio song whose title the artist already has stays as chosen until the
  next whole refresh decides again).

After either, the artist's upcoming shows without a predicted setlist get one.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

from theset_daemon.catalog import (
    TrackCandidate,
    best_image_url,
    choose_canonical,
    is_live,
    is_remix,
    normalize_title,
    release_date,
    song_key,
)
from theset_daemon.db import catalog as store
from theset_daemon.db.conn import Connection
from theset_daemon.refresh.gather import gather_upstream
from theset_daemon.refresh.setlists import predict_setlists
from theset_daemon.upstream.clients import Upstreams
from theset_daemon.upstream.errors import UpstreamError
from theset_daemon.upstream.spotify import Album, AlbumSummary

Release = tuple[AlbumSummary, Album]  # as listed (its release group) and as fetched (its tracks)

RELEASES_PER_REQUEST = 20  # one /albums?ids= batch in extended mode
TRACKS_PER_REQUEST = 50  # one /tracks?ids= batch


@dataclass(slots=True)
class DiscographyRefresh:
    """What one refresh of an artist's whole catalog read and wrote."""

    warnings: list[str] = field(default_factory=list)
    releases_listed: int = 0  # the artist's releases as Spotify lists them (its total_albums)
    releases_read: int = 0  # fetched with their tracks
    tracks_read: int = 0  # tracks on every release read, before the dedup
    songs: int = 0  # distinct songs kept
    live_songs: int = 0
    songs_written: int = 0  # song rows inserted or changed
    songs_removed: int = 0

    @property
    def complete(self) -> bool:
        """Nothing failed: only then may songs missing from the read be retired."""
        return not self.warnings

    @property
    def nothing_read(self) -> bool:
        """Every release batch failed: nothing was stored, not even the time of the refresh."""
        return bool(self.warnings) and self.releases_read == 0


async def refresh_discography(
    up: Upstreams, pool: asyncpg.Pool, artist_id: UUID, spotify_id: str
) -> DiscographyRefresh:
    """Read, choose and store the artist's whole catalog (see the module docstring)."""
    result = DiscographyRefresh()
    listed = await up.spotify.artist_albums(spotify_id)
    result.releases_listed = len(listed)
    releases = await fetch_releases(up, listed, result.warnings)
    popularity = await track_popularity(up, releases, result.warnings)
    # 50 µs of Python a track, 30 ms for a 600-track catalog: in a thread, the event loop gets
    # the GIL back every switch interval (5 ms) instead of waiting the whole 30 ms, so the
    # phase 1s answered meanwhile are not held up (``bench/importer.py``).
    songs = await asyncio.to_thread(choose_songs, releases, popularity)
    result.releases_read = len(releases)
    result.tracks_read = sum(len(album.tracks.items) for _, album in releases)
    result.songs = len(songs)
    result.live_songs = sum(1 for s in songs if s.is_live)
    if result.nothing_read:
        return result
    async with pool.acquire() as conn, conn.transaction():
        result.songs_written = await store.upsert_songs(conn, artist_id, songs)
        if result.complete:
            keep = [s.spotify_id for s in songs]
            result.songs_removed = await store.remove_stale_songs(conn, artist_id, keep)
        await conn.execute(
            """UPDATE artists SET song_catalog_synced_at = now(), total_albums = $2,
                   total_songs = (SELECT count(*) FROM songs WHERE artist_id = $1)
               WHERE id = $1""",
            artist_id,
            result.releases_listed,
        )
    await predict_setlists(pool, artist_id)
    return result


async def fetch_releases(
    up: Upstreams, listed: Sequence[AlbumSummary], warnings: list[str]
) -> list[Release]:
    """Each release with all its tracks; a failed batch is skipped with a warning."""
    by_id = {s.id: s for s in listed}
    batches = [
        listed[i : i + RELEASES_PER_REQUEST] for i in range(0, len(listed), RELEASES_PER_REQUEST)
    ]
    fetched: list[Release] = []
    answers = await gather_upstream([up.spotify.albums_with_tracks(b) for b in batches])
    for batch, answer in zip(batches, answers, strict=True):
        if isinstance(answer, UpstreamError):
            warnings.append(f"{len(batch)} release(s) skipped: {answer}")
        else:
            fetched.extend((by_id.get(a.id, a), a) for a in answer)
    return fetched


async def track_popularity(
    up: Upstreams, releases: Sequence[Release], warnings: list[str]
) -> dict[str, int | None]:
    """Popularity of the releases' tracks (full track objects, extended mode only); a failed
    batch leaves its tracks' popularity unknown, with a warning."""
    track_ids = [t.id for _, album in releases for t in album.tracks.items]
    popularity: dict[str, int | None] = {}
    chunks = [
        track_ids[i : i + TRACKS_PER_REQUEST] for i in range(0, len(track_ids), TRACKS_PER_REQUEST)
    ]
    for answer in await gather_upstream([up.spotify.tracks(chunk) for chunk in chunks]):
        if isinstance(answer, UpstreamError):
            warnings.append(f"track popularity partly unavailable: {answer}")
        else:
            popularity.update((t.id, t.popularity) for t in answer)
    return popularity


def choose_songs(
    releases: Sequence[Release], popularity: dict[str, int | None]
) -> list[store.SongRow]:
    """One row per distinct song: duplicates across releases merge by :func:`song_key`, the
    version kept chosen by :func:`choose_canonical`."""
    groups: dict[str, list[tuple[TrackCandidate, store.SongRow]]] = defaultdict(list)
    for summary, album in releases:
        album_type = (
            summary.album_type if summary.album_type in ("album", "single", "compilation") else None
        )
        released = release_date(summary.release_date)
        image = best_image_url(summary.images)
        for track in album.tracks.items:
            live = is_live(track.name, summary.name, summary.album_type)
            pop = popularity.get(track.id, track.popularity)
            row = store.SongRow(
                spotify_id=track.id,
                name=track.name,
                normalized_title=normalize_title(track.name),
                album_name=summary.name,
                album_id=summary.id,
                album_type=album_type,
                album_image_url=image,
                release_date=released,
                track_number=track.track_number,
                disc_number=track.disc_number,
                duration_ms=track.duration_ms if track.duration_ms > 0 else None,
                popularity=pop,
                preview_url=track.preview_url,
                spotify_uri=track.uri,
                is_explicit=track.explicit,
                is_live=live,
                is_remix=is_remix(track.name),
            )
            candidate = TrackCandidate(
                track_id=track.id,
                title=track.name,
                album_type=summary.album_type,
                album_name=summary.name,
                release_date=released,
                popularity=pop,
                explicit=track.explicit,
            )
            groups[song_key(track.name, live=live, track_id=track.id)].append((candidate, row))
    chosen: list[store.SongRow] = []
    for members in groups.values():
        best = choose_canonical([candidate for candidate, _ in members])
        chosen.append(next(row for candidate, row in members if candidate is best))
    return chosen


@dataclass(frozen=True, slots=True)
class NewReleases:
    releases_read: int
    songs: list[store.SongRow]


async def new_release_songs(up: Upstreams, new: Sequence[AlbumSummary]) -> NewReleases:
    """The songs of the releases found new, by the whole refresh's rules. All or nothing: an
    upstream failure raises, so the caller keeps the artist's stored release count and the next
    sync looks again."""
    by_id = {a.id: a for a in new}
    releases = [(by_id.get(a.id, a), a) for a in await up.spotify.albums_with_tracks(new)]
    # A popularity batch that failed leaves those songs' popularity unknown until the next whole
    # refresh; the songs themselves are worth storing now.
    popularity = await track_popularity(up, releases, [])
    return NewReleases(len(releases), choose_songs(releases, popularity))


async def store_new_songs(conn: Connection, artist_id: UUID, songs: Sequence[store.SongRow]) -> int:
    """Add the songs of new releases; a studio song whose title the artist already has is left
    as chosen (only a whole refresh re-decides a dedup). How many rows were written."""
    if not songs:
        return 0
    held = {
        r["normalized_title"]
        for r in await conn.fetch(
            "SELECT normalized_title FROM songs WHERE artist_id = $1 AND NOT is_live", artist_id
        )
    }
    fresh = [s for s in songs if s.is_live or s.normalized_title not in held]
    return await store.upsert_songs(conn, artist_id, fresh)
