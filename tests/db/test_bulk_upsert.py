"""Bulk upserts (COPY into a temp table, then INSERT ... ON CONFLICT): new rows land, changed rows
change, unchanged rows are not rewritten (same xmin, no updated_at bump)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from uuid import UUID

import asyncpg
import pytest

from theset_daemon.db import catalog as store
from theset_daemon.db.bulk import bulk_upsert, time_ordered_ids


def song(n: int, **changes: object) -> store.SongRow:
    row = store.SongRow(
        spotify_id=f"track{n:017d}",
        name=f"Song {n}",
        normalized_title=f"song {n}",
        album_name="Album",
        album_id="album0000000000000001",
        album_type="album",
        album_image_url=None,
        release_date=dt.date(2020, 1, 1),
        track_number=1 + n % 20,
        disc_number=1,
        duration_ms=200_000 + n,
        popularity=n % 100,
        preview_url=None,
        spotify_uri=f"spotify:track:track{n:017d}",
        is_explicit=False,
        is_live=False,
        is_remix=False,
    )
    return dataclasses.replace(row, **changes)  # type: ignore[arg-type]


async def new_artist(conn: asyncpg.Connection, name: str = "Band") -> UUID:
    artist_id: UUID = await conn.fetchval(
        "INSERT INTO artists (name, slug, spotify_id) VALUES ($1, $2, $3) RETURNING id",
        name,
        name.lower(),
        f"{name.lower():0>22}",
    )
    return artist_id


async def versions(conn: asyncpg.Connection) -> dict[str, tuple[str, dt.datetime]]:
    rows = await conn.fetch("SELECT spotify_id, xmin::text AS x, updated_at FROM songs")
    return {r["spotify_id"]: (r["x"], r["updated_at"]) for r in rows}


async def test_new_then_unchanged_then_changed(db: asyncpg.Connection) -> None:
    artist = await new_artist(db)
    songs = [song(n) for n in range(500)]
    assert await store.upsert_songs(db, artist, songs) == 500
    assert await db.fetchval("SELECT count(*) FROM songs WHERE artist_id = $1", artist) == 500
    assert (
        await db.fetchval("SELECT count(*) FROM artist_songs WHERE artist_id = $1", artist) == 500
    )
    before = await versions(db)

    assert await store.upsert_songs(db, artist, songs) == 0
    assert await versions(db) == before  # not one row version written

    changed = [song(n, name=f"Song {n} (renamed)") if n < 3 else song(n) for n in range(500)]
    changed.append(song(999))
    assert await store.upsert_songs(db, artist, changed) == 4
    after = await versions(db)
    moved = {k for k in before if after[k] != before[k]}
    assert moved == {song(n).spotify_id for n in range(3)}
    assert song(999).spotify_id in after
    renamed = await db.fetchval("SELECT name FROM songs WHERE spotify_id = $1", song(1).spotify_id)
    assert renamed == "Song 1 (renamed)"


async def test_an_unknown_popularity_keeps_the_stored_one(db: asyncpg.Connection) -> None:
    artist = await new_artist(db)
    await store.upsert_songs(db, artist, [song(1, popularity=70)])
    before = await versions(db)
    # Development mode reports no popularity: nothing changed, nothing written.
    assert await store.upsert_songs(db, artist, [song(1, popularity=None)]) == 0
    assert await versions(db) == before
    assert await store.upsert_songs(db, artist, [song(1, popularity=71)]) == 1
    assert await db.fetchval("SELECT popularity FROM songs") == 71


async def test_songs_of_several_artists_in_one_statement(db: asyncpg.Connection) -> None:
    a, b = await new_artist(db, "Alpha"), await new_artist(db, "Beta")
    rows = [(a, song(n)) for n in range(10)] + [(b, song(n)) for n in range(10, 25)]
    rows.append((a, song(3)))  # the same track twice in one batch: written once
    assert await bulk_upsert(db, store.SONGS, store.song_rows(rows)) == 25
    counts = dict(await db.fetch("SELECT artist_id, count(*) FROM artist_songs GROUP BY artist_id"))
    assert counts == {a: 10, b: 15}


async def test_an_unchanged_resync_leaves_no_dead_tuples(db: asyncpg.Connection) -> None:
    artist = await new_artist(db)
    songs = [song(n) for n in range(2000)]
    await store.upsert_songs(db, artist, songs)
    await store.upsert_songs(db, artist, songs)
    await store.upsert_songs(db, artist, songs)
    await db.execute("SELECT pg_stat_force_next_flush()")
    updated = await db.fetchval(
        "SELECT n_tup_upd + n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'songs'"
    )
    assert updated == 0


async def test_venues_and_shows_unchanged_are_not_rewritten(db: asyncpg.Connection) -> None:
    artist = await new_artist(db)
    venue = store.VenueRow(
        ticketmaster_id="KovZ1",
        name="Hall",
        slug="hall",
        city="Town",
        state=None,
        state_code=None,
        country="X",
        country_code="XX",
        postal_code=None,
        address=None,
        timezone=None,
        latitude=1.5,
        longitude=2.5,
    )
    show = store.ShowRow(
        ticketmaster_id="G5v1",
        name="Band at Hall",
        slug="band-hall-2030-01-01",
        date=dt.date(2030, 1, 1),
        start_time=dt.time(20, 0),
        status="upcoming",
        ticket_url=None,
        min_price=25.5,
        max_price=80.0,
        currency="USD",
        venue_ticketmaster_id="KovZ1",
        lineup=(),
    )
    venue_ids = await store.upsert_venues(db, [venue])
    await store.upsert_shows(db, artist, None, [show], venue_ids)
    before = await db.fetch("SELECT xmin::text FROM shows UNION ALL SELECT xmin::text FROM venues")
    venue_ids = await store.upsert_venues(db, [venue])
    await store.upsert_shows(db, artist, None, [show], venue_ids)
    after = await db.fetch("SELECT xmin::text FROM shows UNION ALL SELECT xmin::text FROM venues")
    assert before == after
    await store.upsert_shows(
        db, artist, None, [dataclasses.replace(show, min_price=30.0)], venue_ids
    )
    assert await db.fetchval("SELECT min_price::float8 FROM shows") == 30.0


async def test_two_calls_in_one_transaction_do_not_see_each_others_rows(
    db: asyncpg.Connection,
) -> None:
    # The temp table is emptied at commit; a second call inside the same transaction must not
    # upsert the first call's rows again (one statement may not touch a row twice).
    artist = await new_artist(db)
    async with db.transaction():
        assert await store.upsert_songs(db, artist, [song(n) for n in range(10)]) == 10
        assert await store.upsert_songs(db, artist, [song(n) for n in range(5, 15)]) == 5
    assert await db.fetchval("SELECT count(*) FROM songs") == 15
    assert await db.fetchval("SELECT count(*) FROM artist_songs WHERE is_primary") == 15
    assert await db.fetchval("SELECT count(*) FROM _bulk_songs") == 0


def test_song_ids_are_version_7_increasing_and_unique() -> None:
    ids = [UUID(i) for i in time_ordered_ids(1000)]
    assert all(i.version == 7 and i.variant == "specified in RFC 4122" for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 1000
    assert not set(ids) & {UUID(i) for i in time_ordered_ids(1000)}


async def test_a_stored_song_keeps_its_id(db: asyncpg.Connection) -> None:
    artist = await new_artist(db)
    await store.upsert_songs(db, artist, [song(1)])
    first = await db.fetchval("SELECT id FROM songs")
    assert await store.upsert_songs(db, artist, [song(1, name="Renamed")]) == 1
    assert await db.fetchval("SELECT id FROM songs") == first
    assert await db.fetchval("SELECT count(*) FROM artist_songs") == 1


async def test_a_failing_batch_writes_nothing_and_leaves_the_connection_usable(
    db: asyncpg.Connection,
) -> None:
    # The call begins its own transaction in the round trip of its settings; a row the table
    # refuses must roll all of it back, and the next call must start clean.
    artist = await new_artist(db)
    batch = [song(n) for n in range(10)] + [song(10, duration_ms=0)]  # violates a CHECK
    with pytest.raises(asyncpg.CheckViolationError):
        await store.upsert_songs(db, artist, batch)
    assert not db.is_in_transaction()
    assert await db.fetchval("SELECT count(*) FROM songs") == 0
    assert await db.fetchval("SELECT count(*) FROM artist_songs") == 0
    assert await store.upsert_songs(db, artist, batch[:10]) == 10


async def test_a_failing_batch_inside_a_transaction_rolls_back_only_itself(
    db: asyncpg.Connection,
) -> None:
    artist = await new_artist(db)
    async with db.transaction():
        assert await store.upsert_songs(db, artist, [song(1)]) == 1
        with pytest.raises(asyncpg.CheckViolationError):
            await store.upsert_songs(db, artist, [song(2), song(3, duration_ms=0)])
        assert await store.upsert_songs(db, artist, [song(4)]) == 1
    assert await db.fetchval("SELECT count(*) FROM songs") == 2
