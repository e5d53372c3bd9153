"""Writes of the catalog aggregate: artists, venues, shows and songs (setlists are
``db/setlists.py``'s).

Every write is an idempotent upsert keyed by the provider's id, so a resumed or repeated import or
sync converges on the same rows and never duplicates one.

Songs, venues and shows go in bulk (``db/bulk.py``: one COPY and one statement, and an unchanged
row is not rewritten).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import asyncpg

from theset_daemon.catalog import slugify
from theset_daemon.db.bulk import BulkTable, bulk_upsert, time_ordered_ids
from theset_daemon.db.conn import Connection


@dataclass(frozen=True, slots=True)
class ArtistRow:
    name: str
    spotify_id: str | None = None
    ticketmaster_id: str | None = None
    image_url: str | None = None
    genres: tuple[str, ...] = ()
    popularity: int | None = None
    followers: int | None = None


@dataclass(frozen=True, slots=True)
class VenueRow:
    ticketmaster_id: str
    name: str
    slug: str
    city: str | None
    state: str | None
    state_code: str | None
    country: str | None
    country_code: str | None
    postal_code: str | None
    address: str | None
    timezone: str | None
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True, slots=True)
class ShowRow:
    ticketmaster_id: str
    name: str
    slug: str
    date: date
    start_time: time | None
    status: str
    ticket_url: str | None
    min_price: float | None
    max_price: float | None
    currency: str | None
    venue_ticketmaster_id: str | None
    #: (ticketmaster attraction id, name) in billing order, the headliner first.
    lineup: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class SongRow:
    spotify_id: str
    name: str
    normalized_title: str
    album_name: str | None
    album_id: str | None
    album_type: str | None
    album_image_url: str | None
    release_date: date | None
    track_number: int | None
    disc_number: int | None
    duration_ms: int | None
    popularity: int | None
    preview_url: str | None
    spotify_uri: str | None
    is_explicit: bool
    is_live: bool
    is_remix: bool


VENUES = BulkTable(
    table="venues",
    key="ticketmaster_id",
    columns=(
        "ticketmaster_id", "name", "slug", "city", "state", "state_code", "country",
        "country_code", "postal_code", "address", "timezone", "latitude", "longitude",
    ),
    updated=(
        "name", "city", "state", "state_code", "country", "country_code", "postal_code",
        "address", "timezone", "latitude", "longitude",
    ),
)  # fmt: skip
SHOWS = BulkTable(
    table="shows",
    key="ticketmaster_id",
    columns=(
        "headliner_artist_id", "venue_id", "ticketmaster_id", "slug", "name", "date",
        "start_time", "status", "ticket_url", "min_price", "max_price", "currency",
    ),
    updated=(
        "venue_id", "name", "date", "start_time", "status", "ticket_url", "min_price",
        "max_price", "currency",
    ),
)  # fmt: skip
# A song's id is made here (``db.bulk.time_ordered_ids``), not by the column's gen_random_uuid()
# default: that one reads /dev/urandom once a row on a server built without OpenSSL (the
# embedded one; about 3 us a row), and random ids scatter every insert across the primary key,
# where time-ordered ones append. A stored song keeps its id (the upsert never sets it).
# A song's primary credit is its artist_id (the ``artist_songs`` view, 0006): no credit row to
# write, which made a new song's write about 40 % dearer (two more index entries, two more
# foreign-key checks).
SONGS = BulkTable(
    table="songs",
    key="spotify_id",
    columns=(
        "id", "spotify_id", "artist_id", "name", "normalized_title", "album_name", "album_id",
        "album_type", "album_image_url", "release_date", "track_number", "disc_number",
        "duration_ms", "popularity", "preview_url", "spotify_uri", "is_explicit", "is_live",
        "is_remix",
    ),
    updated=(
        "name", "normalized_title", "album_name", "album_id", "album_type", "album_image_url",
        "release_date", "track_number", "disc_number", "duration_ms", "popularity",
        "preview_url", "spotify_uri", "is_explicit", "is_live", "is_remix",
    ),
    keep_when_null=("popularity",),
)  # fmt: skip


async def upsert_artist(conn: Connection, artist: ArtistRow) -> tuple[UUID, str]:
    """Insert or refresh the artist found by its Spotify id; returns (id, slug).

    The slug is the name's, or the name's plus a piece of the Spotify id when another artist
    already has it; an existing artist keeps its slug (links to it must not break).
    """
    base = slugify(artist.name)
    for slug in (
        base,
        f"{base}-{(artist.spotify_id or artist.ticketmaster_id or 'x')[:8].lower()}",
    ):
        try:
            async with conn.transaction():
                row = await conn.fetchrow(
                    """INSERT INTO artists (name, slug, spotify_id, ticketmaster_id, image_url,
                                            genres, popularity, followers, last_synced_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
                       ON CONFLICT (spotify_id) DO UPDATE SET
                           name = EXCLUDED.name,
                           ticketmaster_id = coalesce(artists.ticketmaster_id,
                                                      EXCLUDED.ticketmaster_id),
                           image_url = coalesce(EXCLUDED.image_url, artists.image_url),
                           genres = EXCLUDED.genres,
                           popularity = coalesce(EXCLUDED.popularity, artists.popularity),
                           followers = coalesce(EXCLUDED.followers, artists.followers),
                           last_synced_at = now()
                       RETURNING id, slug""",
                    artist.name,
                    slug,
                    artist.spotify_id,
                    artist.ticketmaster_id,
                    artist.image_url,
                    list(artist.genres),
                    artist.popularity,
                    artist.followers,
                )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "artists_slug_key":
                continue  # another artist has this slug: try the longer one
            if exc.constraint_name == "artists_ticketmaster_id_key":
                # A support act stored earlier under this attraction: adopt that row.
                row = await _adopt_by_ticketmaster_id(conn, artist)
            else:
                raise
        assert row is not None
        return row["id"], row["slug"]
    raise RuntimeError(f"no free slug for artist {artist.name!r}")


async def _adopt_by_ticketmaster_id(conn: Connection, artist: ArtistRow) -> asyncpg.Record:
    row = await conn.fetchrow(
        """UPDATE artists SET spotify_id = $2, name = $3, image_url = coalesce($4, image_url),
               genres = $5, popularity = coalesce($6, popularity),
               followers = coalesce($7, followers), last_synced_at = now()
           WHERE ticketmaster_id = $1 RETURNING id, slug""",
        artist.ticketmaster_id,
        artist.spotify_id,
        artist.name,
        artist.image_url,
        list(artist.genres),
        artist.popularity,
        artist.followers,
    )
    assert row is not None
    return row


async def set_external_id(
    conn: Connection, artist_id: UUID, column: Literal["ticketmaster_id", "mbid"], value: str
) -> bool:
    """Record the artist's Ticketmaster attraction id or MusicBrainz id, where it has none,
    unless another artist row holds that id; True when set."""
    try:
        status = await conn.execute(
            f"UPDATE artists SET {column} = $2 WHERE id = $1 AND {column} IS NULL",
            artist_id,
            value,
        )
    except asyncpg.UniqueViolationError:
        return False
    return status.endswith("1")


async def upsert_venues(conn: Connection, venues: Sequence[VenueRow]) -> dict[str, UUID]:
    """ticketmaster id -> venue id, for every venue given."""
    if not venues:
        return {}
    await bulk_upsert(
        conn,
        VENUES,
        (
            (
                v.ticketmaster_id,
                v.name,
                v.slug,
                v.city,
                v.state,
                v.state_code,
                v.country,
                v.country_code,
                v.postal_code,
                v.address,
                v.timezone,
                v.latitude,
                v.longitude,
            )
            for v in {v.ticketmaster_id: v for v in venues}.values()
        ),
    )
    rows = await conn.fetch(
        "SELECT ticketmaster_id, id FROM venues WHERE ticketmaster_id = ANY($1::text[])",
        [v.ticketmaster_id for v in venues],
    )
    return {r["ticketmaster_id"]: r["id"] for r in rows}


async def upsert_support_acts(conn: Connection, acts: Sequence[tuple[str, str]]) -> dict[str, UUID]:
    """Artist rows for the other acts on a bill, by attraction id (created bare when new)."""
    if not acts:
        return {}
    await conn.execute(
        """INSERT INTO artists (name, slug, ticketmaster_id)
           SELECT n, s, t FROM unnest($1::text[], $2::text[], $3::text[]) AS a (t, n, s)
           ON CONFLICT DO NOTHING""",
        [tm_id for tm_id, _ in acts],
        [name for _, name in acts],
        [f"{slugify(name)}-{tm_id[-8:].lower()}" for tm_id, name in acts],
    )
    rows = await conn.fetch(
        "SELECT ticketmaster_id, id FROM artists WHERE ticketmaster_id = ANY($1::text[])",
        [tm_id for tm_id, _ in acts],
    )
    return {r["ticketmaster_id"]: r["id"] for r in rows}


async def upsert_shows(
    conn: Connection,
    headliner_id: UUID,
    headliner_tm_id: str | None,
    shows: Sequence[ShowRow],
    venue_ids: dict[str, UUID],
) -> int:
    """Upsert the artist's shows and their bills; returns how many shows were inserted or
    changed (an unchanged show is not rewritten)."""
    if not shows:
        return 0
    unique = list({s.ticketmaster_id: s for s in shows}.values())
    written = await bulk_upsert(
        conn,
        SHOWS,
        (
            (
                headliner_id,
                venue_ids.get(s.venue_ticketmaster_id or ""),
                s.ticketmaster_id,
                s.slug,
                s.name,
                s.date,
                s.start_time,
                s.status,
                s.ticket_url,
                None if s.min_price is None else Decimal(str(s.min_price)),
                None if s.max_price is None else Decimal(str(s.max_price)),
                s.currency,
            )
            for s in unique
        ),
    )
    show_ids = {
        r["ticketmaster_id"]: r["id"]
        for r in await conn.fetch(
            "SELECT ticketmaster_id, id FROM shows WHERE ticketmaster_id = ANY($1::text[])",
            [s.ticketmaster_id for s in shows],
        )
    }
    acts = {(tm_id, name) for s in shows for tm_id, name in s.lineup if tm_id != headliner_tm_id}
    act_ids = await upsert_support_acts(conn, sorted(acts))
    bill: list[tuple[UUID, UUID, int, bool]] = []
    for show in shows:
        show_id = show_ids[show.ticketmaster_id]
        bill.append((show_id, headliner_id, 0, True))
        order = 1
        for tm_id, _name in show.lineup:
            if tm_id != headliner_tm_id and tm_id in act_ids:
                bill.append((show_id, act_ids[tm_id], order, False))
                order += 1
    # One statement for the whole bill; a slot that did not change is not rewritten. An act
    # listed twice on one bill keeps its first slot (one statement may not update a row twice).
    bill = list({(b[0], b[1]): b for b in reversed(bill)}.values())
    await conn.execute(
        """INSERT INTO show_artists (show_id, artist_id, order_index, is_headliner)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::bool[])
           ON CONFLICT (show_id, artist_id) DO UPDATE SET
               order_index = EXCLUDED.order_index, is_headliner = EXCLUDED.is_headliner
           WHERE (show_artists.order_index, show_artists.is_headliner)
                 IS DISTINCT FROM (EXCLUDED.order_index, EXCLUDED.is_headliner)""",
        [b[0] for b in bill],
        [b[1] for b in bill],
        [b[2] for b in bill],
        [b[3] for b in bill],
    )
    return written


def song_record(artist_id: UUID, s: SongRow) -> tuple[Any, ...]:
    """A song as a row of :data:`SONGS` without its id (column order from ``spotify_id``)."""
    return (
        s.spotify_id,
        artist_id,
        s.name,
        s.normalized_title,
        s.album_name,
        s.album_id,
        s.album_type,
        s.album_image_url,
        s.release_date,
        s.track_number,
        s.disc_number,
        s.duration_ms,
        s.popularity,
        s.preview_url,
        s.spotify_uri,
        s.is_explicit,
        s.is_live,
        s.is_remix,
    )


async def upsert_songs(conn: Connection, artist_id: UUID, songs: Sequence[SongRow]) -> int:
    """Upsert the artist's songs (each one's artist is its primary credit); returns how many were
    inserted or changed (an unchanged song is not rewritten)."""
    if not songs:
        return 0
    return await bulk_upsert(conn, SONGS, song_rows([(artist_id, s) for s in songs]))


def song_rows(songs: Sequence[tuple[UUID, SongRow]]) -> list[tuple[Any, ...]]:
    """Rows of :data:`SONGS` for (artist id, song) pairs: one per Spotify id (the last pair
    wins), in key order, each with a new id (used only if the song is new), so new rows reach
    the table with increasing ids."""
    unique = {s.spotify_id: (artist_id, s) for artist_id, s in songs}
    keys = sorted(unique, key=str.encode)  # bytewise: the upsert's ORDER BY ... COLLATE "C"
    return [
        (song_id, *song_record(*unique[key]))
        for song_id, key in zip(time_ordered_ids(len(keys)), keys, strict=True)
    ]


async def remove_stale_songs(
    conn: Connection, artist_id: UUID, keep_spotify_ids: Sequence[str]
) -> int:
    """Delete the artist's songs that are not in ``keep_spotify_ids`` (its catalog as just
    scanned), except every song a setlist lists (predicted or actual) or a vote refers to:
    fans' history is never rewritten by a refresh. Votes hang off setlist songs, so the setlist
    test covers them; the vote test guards a vote whose setlist song a future schema might
    detach. Returns how many were deleted."""
    status = await conn.execute(
        """DELETE FROM songs s
           WHERE s.artist_id = $1 AND NOT (s.spotify_id = ANY($2::text[]))
             AND NOT EXISTS (SELECT 1 FROM setlist_songs ss WHERE ss.song_id = s.id)
             AND NOT EXISTS (SELECT 1 FROM votes v JOIN setlist_songs ss
                             ON ss.id = v.setlist_song_id WHERE ss.song_id = s.id)""",
        artist_id,
        list(keep_spotify_ids),
    )
    return int(status.split()[-1])


async def artist_counts(conn: Connection, artist_id: UUID) -> dict[str, int]:
    """Shows, venues and songs as stored (an ImportStatus's album count is the releases fetched,
    which stored songs cannot tell: an album of duplicates leaves no song of its own)."""
    row = await conn.fetchrow(
        """SELECT
             (SELECT count(*) FROM shows WHERE headliner_artist_id = $1) AS shows,
             (SELECT count(DISTINCT venue_id) FROM shows
               WHERE headliner_artist_id = $1 AND venue_id IS NOT NULL) AS venues,
             (SELECT count(*) FROM songs WHERE artist_id = $1) AS songs""",
        artist_id,
    )
    assert row is not None
    return {key: int(row[key]) for key in ("shows", "venues", "songs")}
