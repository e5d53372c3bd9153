"""What the refresh plan reads of each artist (``db/plan.py``), against a real Postgres: tiers'
inputs (active in 24 h, trending top, upcoming shows), each kind's fetched-at, and when it last
played."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg

from theset_daemon.catalog.plan import Kind, Tier, tier_of
from theset_daemon.db.plan import artist_states


async def artist(conn: asyncpg.Connection, name: str, **columns: object) -> UUID:
    names = ", ".join(["name", "slug", "spotify_id", *columns])
    places = ", ".join(f"${n}" for n in range(1, len(columns) + 4))
    artist_id: UUID = await conn.fetchval(
        f"INSERT INTO artists ({names}) VALUES ({places}) RETURNING id",
        name,
        name.lower(),
        f"{name.lower():0>22}",
        *columns.values(),
    )
    return artist_id


async def show(conn: asyncpg.Connection, artist_id: UUID, days_from_today: int) -> None:
    await conn.execute(
        """INSERT INTO shows (headliner_artist_id, slug, name, date)
           VALUES ($1, $2, 'Show', current_date + $3::int)""",
        artist_id,
        f"show-{artist_id}-{days_from_today}",
        days_from_today,
    )


async def test_each_artist_state(db: asyncpg.Connection) -> None:
    synced = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    viewed = await artist(db, "Viewed", ticketmaster_id="K1", last_synced_at=synced)
    touring = await artist(db, "Touring", shows_synced_at=synced, setlists_synced_at=synced)
    trending = await artist(db, "Trending", trending_score=42.0)
    quiet = await artist(db, "Quiet")
    await db.execute("INSERT INTO artists (name, slug) VALUES ('Support act', 'support-act')")
    await db.execute("INSERT INTO page_views (artist_id) VALUES ($1)", viewed)
    # an old view makes activity, not "active"
    await db.execute(
        "INSERT INTO page_views (artist_id, viewed_at) VALUES ($1, now() - interval '3 days')",
        quiet,
    )
    for days in (-10, -2, 5, 40):
        await show(db, touring, days)
    await show(db, touring, -1)
    await db.execute(  # called off: not played
        "UPDATE shows SET status = 'cancelled' WHERE date = current_date - 1"
    )

    states = {s.artist_id: s for s in await artist_states(db)}

    assert set(states) == {viewed, touring, trending, quiet}  # only those with a Spotify id
    assert tier_of(states[viewed]) is Tier.ACTIVE and states[viewed].has_attraction
    assert states[viewed].fetched_at == {
        Kind.RELEASES: synced,
        Kind.SHOWS: None,
        Kind.SETLISTS: None,
    }
    assert tier_of(states[touring]) is Tier.TOURING
    assert states[touring].upcoming_shows == 2 and states[touring].shows_soon == 1
    assert states[touring].fetched_at[Kind.SETLISTS] == synced
    # played two days ago: over by the end of that day
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert states[touring].last_played_at == today - dt.timedelta(days=1)
    assert tier_of(states[trending]) is Tier.TOURING and states[trending].trending
    assert tier_of(states[quiet]) is Tier.OTHER
    assert states[quiet].activity > 0 and not states[quiet].active
    assert states[quiet].last_played_at is None and not states[quiet].has_attraction
