"""Writes of the catalog aggregate: artists, venues, shows, songs and predicted setlists.

Every write is an idempotent upsert keyed by the provider's id, so a resumed or repeated import or
sync converges on the same rows and never duplicates one.

Songs, venues and shows go in bulk (:func:`bulk_upsert`): the rows are COPied (binary) into a
temporary table, then one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` writes them. The SELECT
joins the stored rows and keeps only the new ones and those where some column IS DISTINCT FROM the
stored value, and the DO UPDATE repeats the test (a concurrent writer may have changed the row in
between). So an unchanged re-sync rewrites nothing: no new row versions, no dead tuples, no index
churn, no ``updated_at`` bump, and it costs a COPY plus a join (``make bench``: well over 100,000
unchanged rows/s, against about 2,000/s for per-row upserts).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from time import time_ns
from typing import Any
from uuid import UUID

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from theset_daemon.catalog import slugify
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


# --- bulk upsert -------------------------------------------------------------------------------

_TEMP_PREFIX = "_bulk_"
UPSERT_ATTEMPTS = 3  # a bulk upsert that lost an insert race on a second unique key is redone


@dataclass(frozen=True, slots=True)
class BulkTable:
    """How one table takes bulk upserts: its conflict key, the columns we write, and which of
    those an existing row takes from the new one (``keep_when_null`` ones only when the new value
    is known: a development-mode sync has no popularity and must not erase a stored one)."""

    table: str
    key: str
    columns: tuple[str, ...]
    updated: tuple[str, ...]
    keep_when_null: tuple[str, ...] = ()

    @property
    def temp(self) -> str:
        return _TEMP_PREFIX + self.table

    def _new_value(self, column: str, new: str, old: str) -> str:
        if column in self.keep_when_null:
            return f"coalesce({new}.{column}, {old}.{column})"
        return f"{new}.{column}"

    def _changed(self, new: str, old: str) -> str:
        left = ", ".join(f"{old}.{c}" for c in self.updated)
        right = ", ".join(self._new_value(c, new, old) for c in self.updated)
        return f"({left}) IS DISTINCT FROM ({right})"

    def create_sql(self) -> str:
        """The temp table, made once per connection. ON COMMIT DELETE ROWS empties it at each
        commit by truncating its file in place: no DELETE statement, no dead rows piling up
        (a temp table is never vacuumed), no periodic TRUNCATE (a new file, catalog writes)."""
        cols = ", ".join(self.columns)
        return (
            f"CREATE TEMP TABLE IF NOT EXISTS {self.temp} ON COMMIT DELETE ROWS AS "
            f"SELECT {cols} FROM {self.table} WITH NO DATA"
        )

    def upsert_sql(self) -> str:
        """The upsert from the temp table; answers one row, ``written``. Rows are written in key
        order, so two transactions upserting overlapping rows (two artists' syncs sharing
        venues) take their row locks in the same order and cannot deadlock. The order is
        bytewise (``COLLATE "C"``): the same whatever the database's collation, the order in
        which :func:`song_rows` hands out ids, and cheaper to sort (memcmp, no strcoll)."""
        cols = ", ".join(self.columns)
        sets = ", ".join(
            f"{c} = {self._new_value(c, 'EXCLUDED', self.table)}" for c in self.updated
        )
        return f"""
            WITH written AS (
                INSERT INTO {self.table} ({cols})
                SELECT {", ".join(f"t.{c}" for c in self.columns)}
                FROM {self.temp} t LEFT JOIN {self.table} s ON s.{self.key} = t.{self.key}
                WHERE s.{self.key} IS NULL OR {self._changed("t", "s")}
                ORDER BY t.{self.key} COLLATE "C"
                ON CONFLICT ({self.key}) DO UPDATE SET {sets}
                WHERE {self._changed("EXCLUDED", self.table)}
                RETURNING 1
            )
            SELECT count(*) AS written FROM written"""


async def bulk_upsert(conn: Connection, spec: BulkTable, records: Iterable[tuple[Any, ...]]) -> int:
    """Upsert ``records`` (tuples in ``spec.columns`` order, keys unique) into ``spec.table``;
    returns how many rows were inserted or changed (unchanged ones are not written)."""
    rows = list(records)
    if not rows:
        return 0
    # One temp table per connection and table, kept rather than created and dropped per call:
    # creating and dropping one costs milliseconds of catalog writes, which would dominate a
    # sync's small batches. The commit empties it (ON COMMIT DELETE ROWS); the DELETE here only
    # finds rows when an enclosing transaction already used it (two calls in one transaction),
    # and costs next to nothing on an empty table.
    # The temp table has no statistics, so the planner would hash the whole target table to join
    # a few hundred rows; a batch is always small next to the table, so index probes are the plan.
    # synchronous_commit off: the commit does not wait for its WAL flush (a few ms, more than the
    # write itself for a sync's batch). A crash may lose the last fraction of a second of such
    # commits, never consistency; every write here is an idempotent upsert the next run redoes,
    # and a checkpoint saved after it (a synchronous commit) flushes the WAL before it, so no
    # checkpoint ever points past a lost write.
    prepare = (
        f"{spec.create_sql()}; DELETE FROM {spec.temp}; SET LOCAL enable_hashjoin = off; "
        "SET LOCAL enable_mergejoin = off; SET LOCAL synchronous_commit = off"
    )
    # ON CONFLICT covers only the conflict key: two transactions inserting the same new row (two
    # artists' syncs sharing a venue) both pass its check, and the later one then fails on the
    # table's other unique index (the slug) once the first commits. Tried again, it sees the
    # committed row and updates it.
    attempts = AsyncRetrying(
        retry=retry_if_exception_type(asyncpg.UniqueViolationError),
        stop=stop_after_attempt(UPSERT_ATTEMPTS),
        reraise=True,
    )
    async for attempt in attempts:
        with attempt:
            return await _upsert_once(conn, spec, rows, prepare)
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _upsert_once(
    conn: Connection, spec: BulkTable, rows: list[tuple[Any, ...]], prepare: str
) -> int:
    if conn.is_in_transaction():
        async with conn.transaction():  # a savepoint in the caller's transaction
            await conn.execute(prepare)
            return await _copy_and_upsert(conn, spec, rows)
    # Our own transaction, begun in the same round trip as its settings: a BEGIN of its own is
    # one more round trip, 3 % of a 500-song call (``make bench``).
    await conn.execute(f"BEGIN; {prepare}")
    try:
        written = await _copy_and_upsert(conn, spec, rows)
    except BaseException:
        if not conn.is_closed():
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")
    return written


async def _copy_and_upsert(conn: Connection, spec: BulkTable, rows: list[tuple[Any, ...]]) -> int:
    await conn.copy_records_to_table(spec.temp, records=rows, columns=list(spec.columns))
    return int(await conn.fetchval(spec.upsert_sql()))


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
# A song's id is made here (:func:`time_ordered_ids`), not by the column's gen_random_uuid()
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


def time_ordered_ids(count: int) -> list[str]:
    """``count`` new UUIDs (version 7, RFC 9562), increasing: the current Unix time in ms,
    then 12 random bits, then a 62-bit counter that starts at a random value (method 2 of the
    RFC, monotonic random). Unique across processes by their 73 random bits."""
    now_ms = time_ns() // 1_000_000
    bits = int.from_bytes(os.urandom(10), "big")
    high = f"{(now_ms & 0xFFFF_FFFF_FFFF) << 16 | 0x7000 | (bits & 0xFFF):016x}"
    # 61 random bits leave the counter room to run without reaching the variant bits (0b10).
    low = 0b10 << 62 | (bits >> 12) & ((1 << 61) - 1)
    return [f"{high}{low + n:016x}" for n in range(count)]


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


async def set_ticketmaster_id(conn: Connection, artist_id: UUID, tm_id: str) -> bool:
    """Record the artist's attraction id unless another artist row holds it; True when set."""
    try:
        status = await conn.execute(
            "UPDATE artists SET ticketmaster_id = $2 WHERE id = $1 AND ticketmaster_id IS NULL",
            artist_id,
            tm_id,
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
    return await upsert_songs_of(conn, [(artist_id, s) for s in songs])


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


async def upsert_songs_of(conn: Connection, songs: Sequence[tuple[UUID, SongRow]]) -> int:
    """:func:`upsert_songs` for the songs of several artists at once (one COPY for a page)."""
    if not songs:
        return 0
    return await bulk_upsert(conn, SONGS, song_rows(songs))


async def drop_superseded_songs(
    conn: Connection, artist_id: UUID, keep_spotify_ids: Sequence[str]
) -> int:
    """Remove the artist's songs that a dedup pass no longer keeps (an earlier canonical choice);
    never songs that carry votes through a setlist."""
    status = await conn.execute(
        """DELETE FROM songs s
           WHERE s.artist_id = $1 AND NOT (s.spotify_id = ANY($2::text[]))
             AND NOT EXISTS (SELECT 1 FROM setlist_songs ss
                             JOIN votes v ON v.setlist_song_id = ss.id
                             WHERE ss.song_id = s.id)""",
        artist_id,
        list(keep_spotify_ids),
    )
    return int(status.split()[-1])


async def remove_stale_songs(
    conn: Connection, artist_id: UUID, keep_spotify_ids: Sequence[str]
) -> int:
    """Delete the artist's songs that are not in ``keep_spotify_ids`` (its catalog as just
    scanned), except those a setlist lists (predicted or actual) or a vote refers to (votes hang
    off setlist songs, so the setlist test covers them; the vote test guards a vote whose setlist
    song a future schema might detach); returns how many were deleted."""
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


async def predict_setlists(conn: Connection, artist_id: UUID, size: int) -> int:
    """One predicted setlist of ``size`` songs (most popular studio songs first, then by title)
    for each of the artist's upcoming shows that has none; returns how many were created."""
    shows = await conn.fetch(
        """SELECT s.id FROM shows s
           WHERE s.headliner_artist_id = $1 AND s.status = 'upcoming' AND s.date >= current_date
             AND NOT EXISTS (SELECT 1 FROM setlists l
                             WHERE l.show_id = s.id AND l.artist_id = $1
                               AND l.type = 'predicted')""",
        artist_id,
    )
    songs = await conn.fetch(
        """SELECT id FROM songs WHERE artist_id = $1 AND NOT is_live AND NOT is_remix
           ORDER BY popularity DESC NULLS LAST, release_date ASC NULLS LAST, name, id
           LIMIT $2""",
        artist_id,
        size,
    )
    if not shows or not songs:
        return 0
    created = 0
    for show in shows:
        setlist_id = await conn.fetchval(
            """INSERT INTO setlists (show_id, artist_id, type, name)
               VALUES ($1, $2, 'predicted', 'Predicted setlist')
               ON CONFLICT (show_id, artist_id, type) DO NOTHING RETURNING id""",
            show["id"],
            artist_id,
        )
        if setlist_id is None:
            continue
        await conn.executemany(
            "INSERT INTO setlist_songs (setlist_id, song_id, position) VALUES ($1, $2, $3)",
            [(setlist_id, song["id"], n) for n, song in enumerate(songs, start=1)],
        )
        created += 1
    return created


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
