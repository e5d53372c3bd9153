"""What the catalog-maintenance job tests share: a job context over real resources, a reporter that
records what a job tells the runner, and planters that write catalog and activity rows the way the
importer and the web app do (counters kept in step with their rows).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from prometheus_client import CollectorRegistry

from tests.jobs.sync_support import job_context
from tests.plugins.simulator import UNTHROTTLED_CONFIG
from theset_daemon import config
from theset_daemon.app import open_upstreams
from theset_daemon.cache import Cache, open_cache
from theset_daemon.config import SettingsHolder
from theset_daemon.db.pool import Database, open_database
from theset_daemon.durable import new_owner_id
from theset_daemon.jobs.context import JobContext, JobName, JobParams
from theset_daemon.jobs.registry import JOBS
from theset_daemon.lifetime import started
from theset_daemon.presence import Presence
from theset_daemon.upstream.clients import Shared, Upstreams

# No test here measures rates: the simulator is unthrottled (the ``unthrottled_simulator`` fixture,
# autouse in tests/jobs) and the clients send as fast as the config allows.
BASE_CONFIG = f"""
[log]
level = "warning"
[upstream.simulator]
artists = 12
latency_ms = 0
{UNTHROTTLED_CONFIG}
[jobs.complete-catalog-sync]
delay_s = 0
"""


@dataclass(slots=True)
class RecordingReporter:
    """Stands in for the runner's side of a run, and remembers every call."""

    progress_calls: list[tuple[int, int, dict[str, Any] | None]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[str | None, str]] = field(default_factory=list)

    async def progress(
        self, done: int, total: int, summary: Mapping[str, Any] | None = None
    ) -> None:
        self.progress_calls.append((done, total, dict(summary) if summary else None))

    async def checkpoint(self, checkpoint: Mapping[str, Any]) -> None:
        self.checkpoints.append(dict(checkpoint))

    def item_failed(self, artist_id: UUID | str | None, message: str) -> None:
        self.failures.append((str(artist_id) if artist_id is not None else None, message))


@dataclass(slots=True)
class Env:
    holder: SettingsHolder
    database: Database
    cache: Cache
    upstreams: Upstreams

    @property
    def pool(self) -> asyncpg.Pool:
        return self.database.pool

    def context(
        self,
        job: JobName,
        body: Mapping[str, Any] | None = None,
        *,
        checkpoint: dict[str, Any] | None = None,
        stopping: asyncio.Event | None = None,
    ) -> tuple[JobContext, RecordingReporter]:
        reporter = RecordingReporter()
        params: JobParams = JOBS[job].params(body, self.holder.current)
        ctx = job_context(self, job, params, reporter, checkpoint=checkpoint, stopping=stopping)
        return ctx, reporter

    async def sim_catalog(self, limit: int = 100) -> list[dict[str, Any]]:
        import aiohttp

        url = f"{self.upstreams.simulator_url}/_sim/catalog?limit={limit}"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            artists: list[dict[str, Any]] = (await response.json())["artists"]
            return artists


@contextlib.asynccontextmanager
async def job_env(database_url: str, extra_config: str = "") -> AsyncIterator[Env]:
    settings = config.parse(BASE_CONFIG + extra_config, {"DATABASE_URL": database_url})
    holder = SettingsHolder(settings, Path("unused.toml"))
    registry = CollectorRegistry()
    async with (
        open_database(holder.current.database) as database,
        open_cache(holder, registry) as cache,
        # On the key's shared budget, as the daemon runs them (``app.upstreams_ctx``): every
        # request reserves its unit in the durable daily ledger.
        started(Presence(database, new_owner_id())) as presence,
        open_upstreams(holder, registry, shared=Shared(database, presence)) as upstreams,
    ):
        yield Env(holder, database, cache, upstreams)


# --- planting rows -------------------------------------------------------------------------------

_serial = itertools.count(1)


def _n() -> int:
    return next(_serial)


async def plant_artist(
    conn: asyncpg.Connection,
    name: str | None = None,
    *,
    popularity: int | None = None,
    spotify_id: str | None = "auto",
    created_ago_s: float = 0,
) -> UUID:
    n = _n()
    name = name or f"Artist {n}"
    artist_id: UUID = await conn.fetchval(
        """INSERT INTO artists (name, slug, spotify_id, popularity, created_at)
           VALUES ($1, $2, $3, $4, now() - make_interval(secs => $5)) RETURNING id""",
        name,
        f"artist-{n}-{uuid.uuid4().hex[:6]}",
        f"sp{n:020d}" if spotify_id == "auto" else spotify_id,
        popularity,
        created_ago_s,
    )
    return artist_id


async def plant_venue(conn: asyncpg.Connection, *, created_ago_s: float = 0) -> UUID:
    n = _n()
    venue_id: UUID = await conn.fetchval(
        """INSERT INTO venues (ticketmaster_id, name, slug, city, created_at)
           VALUES ($1, $2, $3, 'Leeds', now() - make_interval(secs => $4)) RETURNING id""",
        f"KovZ{n:08d}",
        f"Venue {n}",
        f"venue-{n}-{uuid.uuid4().hex[:6]}",
        created_ago_s,
    )
    return venue_id


async def plant_show(
    conn: asyncpg.Connection,
    artist_id: UUID,
    *,
    days_ahead: int = 10,
    status: str = "upcoming",
    venue_id: UUID | str | None = "auto",
) -> UUID:
    n = _n()
    if venue_id == "auto":
        venue_id = await plant_venue(conn)
    show_id: UUID = await conn.fetchval(
        """INSERT INTO shows (headliner_artist_id, venue_id, ticketmaster_id, slug, name, date,
                              status)
           VALUES ($1, $2, $3, $4, $5, (now() AT TIME ZONE 'UTC')::date + $6::int, $7)
           RETURNING id""",
        artist_id,
        venue_id,
        f"G5v{n:010d}",
        f"show-{n}-{uuid.uuid4().hex[:6]}",
        f"Show {n}",
        days_ahead,
        status,
    )
    await conn.execute(
        "INSERT INTO show_artists (show_id, artist_id, is_headliner) VALUES ($1, $2, true)",
        show_id,
        artist_id,
    )
    return show_id


async def plant_song(
    conn: asyncpg.Connection,
    artist_id: UUID,
    title: str,
    normalized_title: str | None = None,
    *,
    album_type: str = "album",
    album_name: str = "First Album",
    popularity: int | None = None,
    release_date: dt.date | None = dt.date(2001, 1, 1),
    is_live: bool = False,
) -> UUID:
    n = _n()
    song_id: UUID = await conn.fetchval(
        """INSERT INTO songs (spotify_id, artist_id, name, normalized_title, album_name,
                              album_type, popularity, release_date, is_live)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
        f"tr{n:020d}",
        artist_id,
        title,
        normalized_title or title.casefold(),
        album_name,
        album_type,
        popularity,
        release_date,
        is_live,
    )
    return song_id


async def plant_setlist(
    conn: asyncpg.Connection,
    show_id: UUID,
    artist_id: UUID,
    song_ids: Sequence[UUID],
    *,
    kind: str = "predicted",
) -> list[UUID]:
    """A setlist of the songs in order; returns its setlist_songs ids, in order."""
    setlist_id = await conn.fetchval(
        "INSERT INTO setlists (show_id, artist_id, type) VALUES ($1, $2, $3) RETURNING id",
        show_id,
        artist_id,
        kind,
    )
    entries = []
    for position, song_id in enumerate(song_ids, start=1):
        entries.append(
            await conn.fetchval(
                """INSERT INTO setlist_songs (setlist_id, song_id, position)
                   VALUES ($1, $2, $3) RETURNING id""",
                setlist_id,
                song_id,
                position,
            )
        )
    return entries


async def plant_vote(
    conn: asyncpg.Connection,
    user_id: UUID,
    setlist_song_id: UUID,
    *,
    vote_type: str = "up",
    age_s: float = 0,
) -> UUID:
    """A vote as the web app casts it: the row, and the three counters it moves."""
    row = await conn.fetchrow(
        """SELECT l.show_id, l.id AS setlist_id FROM setlist_songs ss
           JOIN setlists l ON l.id = ss.setlist_id WHERE ss.id = $1""",
        setlist_song_id,
    )
    assert row is not None
    vote_id: UUID = await conn.fetchval(
        """INSERT INTO votes (user_id, setlist_song_id, show_id, vote_type, created_at,
                              updated_at)
           VALUES ($1, $2, $3, $4, now() - make_interval(secs => $5),
                   now() - make_interval(secs => $5)) RETURNING id""",
        user_id,
        setlist_song_id,
        row["show_id"],
        vote_type,
        age_s,
    )
    column = "upvotes" if vote_type == "up" else "downvotes"
    await conn.execute(
        f"UPDATE setlist_songs SET {column} = {column} + 1 WHERE id = $1", setlist_song_id
    )
    await conn.execute(
        "UPDATE setlists SET total_votes = total_votes + 1 WHERE id = $1", row["setlist_id"]
    )
    await conn.execute("UPDATE shows SET vote_count = vote_count + 1 WHERE id = $1", row["show_id"])
    return vote_id


async def plant_follow(conn: asyncpg.Connection, artist_id: UUID, *, age_s: float = 0) -> None:
    await conn.execute(
        """INSERT INTO user_follows_artists (user_id, artist_id, created_at)
           VALUES ($1, $2, now() - make_interval(secs => $3))""",
        uuid.uuid4(),
        artist_id,
        age_s,
    )


async def plant_view(
    conn: asyncpg.Connection,
    *,
    artist_id: UUID | None = None,
    show_id: UUID | None = None,
    age_s: float = 0,
) -> None:
    await conn.execute(
        """INSERT INTO page_views (artist_id, show_id, viewed_at)
           VALUES ($1, $2, now() - make_interval(secs => $3))""",
        artist_id,
        show_id,
        age_s,
    )
