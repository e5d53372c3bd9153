"""The bounded pipeline over real artist rows: pages, the in-flight bound, failure isolation,
checkpoints and resume, stopping, and batch_size/delay_s read anew (as after a SIGHUP)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

import pytest

from tests.jobs.sync_support import SyncEnv, sync_env
from theset_daemon.db import sync as sync_db
from theset_daemon.db.sync import SyncArtist
from theset_daemon.jobs.context import JobContext, UpdateActiveArtistsParams
from theset_daemon.jobs.pipeline import PipelineResult, resumed_summary, run_pipeline

JOB = "update-active-artists"
ARTISTS = 23


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[SyncEnv]:
    async with sync_env(database_url, artists=3) as environment:
        await environment.database.pool.execute(
            """INSERT INTO artists (name, slug, spotify_id)
               SELECT 'Artist ' || n, 'artist-' || n, 'sp' || lpad(n::text, 20, '0')
               FROM generate_series(1, $1) n""",
            ARTISTS,
        )
        yield environment


async def run_over_artists(
    env: SyncEnv,
    ctx: JobContext,
    process: Callable[[SyncArtist], Awaitable[None]],
    *,
    pages: list[int] | None = None,
    **options: Any,
) -> PipelineResult[SyncArtist]:
    """``run_pipeline`` over the artist rows in id order, each page's size noted in ``pages``."""

    async def fetch(cursor: object, limit: int) -> list[SyncArtist]:
        if pages is not None:
            pages.append(limit)
        assert cursor is None or isinstance(cursor, str)
        return await sync_db.artists_by_id(env.database.pool, cursor, limit)

    return await run_pipeline(
        ctx,
        fetch_page=fetch,
        process=process,
        cursor_of=lambda a: str(a.id),
        id_of=lambda a: a.id,
        **options,
    )


async def test_every_artist_once_in_pages_with_failures_isolated(env: SyncEnv) -> None:
    env.set_job(JOB, batch_size=4, delay_s=0)
    ctx, recorder = env.context(JOB, UpdateActiveArtistsParams())
    seen: list[UUID] = []
    in_flight = peak = 0
    pages: list[int] = []
    all_ids = [r["id"] for r in await env.database.pool.fetch("SELECT id FROM artists")]
    failing = set(sorted(all_ids)[::5])  # every fifth artist fails

    async def process(artist: SyncArtist) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(0.01)
            if artist.id in failing:
                raise RuntimeError(f"upstream broke for {artist.name}")
            seen.append(artist.id)
        finally:
            in_flight -= 1

    result = await run_over_artists(
        env,
        ctx,
        process,
        pages=pages,
        total=ARTISTS,
        snapshot=lambda: {"seen": len(seen)},
        page_size=10,
    )
    assert result.done == ARTISTS and result.failed == len(failing) and not result.stopped
    assert sorted(seen + list(failing)) == sorted(all_ids)
    assert peak == 4  # the window was full, never fuller
    assert pages == [10, 10, 10]  # three pages: 10 + 10 + 3, never the whole table
    assert {artist_id for artist_id, _ in recorder.failures} == failing
    assert all("upstream broke" in message for _, message in recorder.failures)
    assert [p[0] for p in recorder.progress] == list(range(1, ARTISTS + 1))
    assert recorder.progress[-1][1] == ARTISTS
    assert len(recorder.checkpoints) == 3
    last = recorder.checkpoints[-1]["pipeline"]
    assert last["pipeline"] == {
        "cursor": str(max(all_ids)), "done": 23, "failed": len(failing), "taken": 23,
    }  # fmt: skip


async def test_a_resumed_run_skips_durably_completed_pages(env: SyncEnv) -> None:
    env.set_job(JOB, batch_size=3, delay_s=0)
    stopping = asyncio.Event()
    ctx, recorder = env.context(JOB, UpdateActiveArtistsParams(), stopping=stopping)
    first: list[UUID] = []

    async def process_first(artist: SyncArtist) -> None:
        first.append(artist.id)
        if len(first) == 12:
            stopping.set()  # SIGTERM in the middle of the second page

    result = await run_over_artists(
        env,
        ctx,
        process_first,
        total=ARTISTS,
        snapshot=lambda: {"synced": len(first)},
        page_size=10,
    )
    # The items already in the window (at most batch_size) finish; no new one starts.
    assert result.stopped and 12 <= result.done <= 12 + 2
    assert len(first) == result.done
    saved = recorder.checkpoints[-1]
    assert saved["pipeline"]["pipeline"]["done"] == 10  # only the first page was complete

    resumed, _ = env.context(JOB, UpdateActiveArtistsParams(), checkpoint=saved)
    assert resumed_summary(resumed) == {"synced": 10}
    second: list[UUID] = []

    async def process_second(artist: SyncArtist) -> None:
        second.append(artist.id)

    result = await run_over_artists(env, resumed, process_second, total=ARTISTS, page_size=10)
    assert result.done == ARTISTS and not result.stopped
    all_ids = sorted(r["id"] for r in await env.database.pool.fetch("SELECT id FROM artists"))
    assert sorted(second) == all_ids[10:]  # page 1 not redone; page 2 redone whole
    assert set(first[:10]) == set(all_ids[:10])


async def test_limit_caps_the_items_taken(env: SyncEnv) -> None:
    ctx, _ = env.context(JOB, UpdateActiveArtistsParams())
    seen: list[UUID] = []

    async def process(artist: SyncArtist) -> None:
        seen.append(artist.id)

    result = await run_over_artists(env, ctx, process, total=7, limit=7, page_size=5)
    assert result.done == 7 and len(seen) == 7


async def test_items_that_do_not_count_are_walked_past_the_limit(env: SyncEnv) -> None:
    ctx, recorder = env.context(JOB, UpdateActiveArtistsParams())
    all_ids = sorted(r["id"] for r in await env.database.pool.fetch("SELECT id FROM artists"))
    counted = set(all_ids[::3])  # every third counts: the 5th of them is the 13th artist
    seen: list[UUID] = []
    pages: list[int] = []

    async def process(artist: SyncArtist) -> None:
        seen.append(artist.id)

    result = await run_over_artists(
        env, ctx, process, pages=pages, total=13, limit=5, page_size=10,
        counts=lambda artist: artist.id in counted,
    )  # fmt: skip
    assert result.done == 13 and sorted(seen) == all_ids[:13]
    assert pages == [10, 10]  # whole pages: what counts is known once a page is read
    saved = recorder.checkpoints[-1]["pipeline"]["pipeline"]
    assert saved == {"cursor": str(all_ids[12]), "done": 13, "failed": 0, "taken": 5}

    # A resumed run goes on with the count it had: 5 of 5 counted, nothing more to take.
    partway = {"pipeline": {"pipeline": {**recorder.checkpoints[0]["pipeline"]["pipeline"]}}}
    assert partway["pipeline"]["pipeline"]["taken"] == 4  # artists 0, 3, 6, 9 of the first page
    resumed, _ = env.context(JOB, UpdateActiveArtistsParams(), checkpoint=partway)
    more: list[UUID] = []

    async def process_more(artist: SyncArtist) -> None:
        more.append(artist.id)

    again = await run_over_artists(
        env, resumed, process_more, total=13, limit=5, page_size=10,
        counts=lambda artist: artist.id in counted,
    )  # fmt: skip
    assert again.done == 13 and sorted(more) == all_ids[10:13]


async def test_delay_between_batches_and_batch_size_reread(env: SyncEnv) -> None:
    env.set_job(JOB, batch_size=2, delay_s=0.05)
    ctx, _ = env.context(JOB, UpdateActiveArtistsParams())
    batches: list[float] = []
    started = time.monotonic()

    async def process(artist: SyncArtist) -> None:
        batches.append(time.monotonic() - started)
        if len(batches) == 4:
            env.set_job(JOB, batch_size=5, delay_s=0.05)  # a reload mid-run

    result = await run_over_artists(env, ctx, process, total=9, limit=9, page_size=20)
    assert result.done == 9
    # batches of 2, 2, then 5 after the reload: two pauses of 0.05 s before item 5 starts
    assert batches[4] >= 0.1
    assert batches[8] - batches[4] < 0.04  # the last 5 went together


async def test_a_failed_page_lookup_fails_its_items_only(env: SyncEnv) -> None:
    ctx, recorder = env.context(JOB, UpdateActiveArtistsParams())
    calls = 0

    async def prepare(page: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("batch lookup 503")

    processed: list[UUID] = []

    async def process(artist: SyncArtist) -> None:
        processed.append(artist.id)

    result = await run_over_artists(env, ctx, process, total=ARTISTS, prepare=prepare, page_size=10)
    assert result.failed == 10 and result.done == ARTISTS
    assert len(processed) == 13 and len(recorder.failures) == 10
