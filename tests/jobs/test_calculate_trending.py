"""calculate-trending: the one formula (pure, and the SQL held to it), the views refreshed, the
cache warmed."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from theset_daemon.cache import keys
from theset_daemon.catalog import trending
from theset_daemon.catalog.trending import decay_weight, decayed_score
from theset_daemon.db import maintenance
from theset_daemon.jobs import calculate_trending
from theset_daemon.jobs.runner import JobRunner

from .catalog_support import (
    job_env,
    plant_artist,
    plant_follow,
    plant_setlist,
    plant_show,
    plant_song,
    plant_view,
    plant_vote,
)

HOUR_S = 3600.0
DAY_S = 86400.0

# --- the formula -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age_s", "weight"),
    [
        (0, 1.0),
        (-600, 1.0),  # a future timestamp (clock skew) counts as fresh, never more
        (48 * HOUR_S, 0.5),
        (96 * HOUR_S, 0.25),
        (7 * DAY_S, 0.5**3.5),
        (30 * DAY_S, 0.5**15),
        (30 * DAY_S + 1, 0.0),  # past the horizon
    ],
)
def test_decay_weight(age_s: float, weight: float) -> None:
    assert decay_weight(age_s) == pytest.approx(weight)


@pytest.mark.parametrize(
    ("votes", "follows", "views", "upcoming", "popularity", "score"),
    [
        ((), (), (), 0, None, 0.0),
        ((0,), (), (), 0, None, 4.0),  # a fresh vote
        ((96 * HOUR_S,), (), (), 0, None, 1.0),  # four days old: two half-lives
        ((), (0, 48 * HOUR_S), (), 0, None, 2.0 + 1.0),
        ((), (), (0,) * 10, 0, None, 1.0),
        ((), (), (), 3, None, 15.0),
        ((), (), (), 40, None, 50.0),  # capped at 10 shows
        ((), (), (), -2, -5, 0.0),
        ((), (), (), 0, 100, 50.0),
        ((40 * DAY_S,), (40 * DAY_S,), (40 * DAY_S,), 0, 0, 0.0),  # all past the horizon
    ],
)
def test_decayed_score(
    votes: tuple[float, ...],
    follows: tuple[float, ...],
    views: tuple[float, ...],
    upcoming: int,
    popularity: int | None,
    score: float,
) -> None:
    assert decayed_score(votes, follows, views, upcoming, popularity) == pytest.approx(score)


def test_window_form_is_the_same_formula_at_age_zero() -> None:
    """A fresh event weighs the same in both forms: the window form is its step decay."""
    assert decayed_score([0], [], [], 0, None) == trending.trending_score(1, 1, 0, 0, 0, None)
    assert decayed_score([], [0], [], 0, None) == trending.trending_score(0, 0, 1, 0, 0, None)
    assert decayed_score([], [], [0], 0, None) == trending.trending_score(0, 0, 0, 1, 0, None)


def test_fresh_fans_outrank_popularity_and_old_fans() -> None:
    quiet_star = decayed_score([], [], [], 0, 90)
    busy_newcomer = decayed_score([0] * 10, [0, 0], [0] * 50, 1, 20)
    faded = decayed_score([20 * DAY_S] * 10, [20 * DAY_S] * 2, [], 1, 20)
    assert busy_newcomer > quiet_star > faded


# --- the job -----------------------------------------------------------------------------------


async def test_scores_match_the_formula_views_refresh_and_cache_warms(database_url: str) -> None:
    async with job_env(database_url) as env, env.pool.acquire() as conn:
        hot = await plant_artist(conn, "Hot Band", popularity=40)
        quiet = await plant_artist(conn, "Quiet Star", popularity=90)
        faded = await plant_artist(conn, "Faded", popularity=None)
        hot_show = await plant_show(conn, hot, days_ahead=5)
        past_show = await plant_show(conn, hot, days_ahead=-20, status="completed")
        await plant_show(conn, quiet, days_ahead=30)
        songs = [await plant_song(conn, hot, f"Song {i}") for i in range(3)]
        entries = await plant_setlist(conn, hot_show, hot, songs)
        past_entries = await plant_setlist(conn, past_show, hot, songs)
        vote_ages = [0.0, 2 * HOUR_S, 3 * DAY_S, 10 * DAY_S]
        for age in vote_ages:
            await plant_vote(conn, uuid.uuid4(), entries[0], age_s=age)
        old_vote_ages = [5 * DAY_S, 40 * DAY_S]  # the second is past the horizon
        for age in old_vote_ages:
            await plant_vote(conn, uuid.uuid4(), past_entries[1], age_s=age)
        hot_follow_ages = [HOUR_S, 6 * DAY_S]
        for age in hot_follow_ages:
            await plant_follow(conn, hot, age_s=age)
        faded_follow_ages = [25 * DAY_S, 60 * DAY_S]
        for age in faded_follow_ages:
            await plant_follow(conn, faded, age_s=age)
        artist_view_ages = [0.0, DAY_S, 2 * DAY_S]
        for age in artist_view_ages:
            await plant_view(conn, artist_id=hot, age_s=age)
        show_view_ages = [HOUR_S] * 4
        for age in show_view_ages:
            await plant_view(conn, artist_id=hot, show_id=hot_show, age_s=age)

        ctx, reporter = env.context("calculate-trending")
        result = await calculate_trending.run(ctx)

        assert result.summary.as_json() == {
            "artistsScored": 3,
            "showsScored": 3,
            "refreshedViews": ["trending_artists_mv", "show_stats_mv"],
        }
        assert result.items_failed == 0
        assert reporter.progress_calls[-1][:2] == (3, 3)

        scores = {
            row["id"]: row["trending_score"]
            for row in await conn.fetch("SELECT id, trending_score FROM artists")
        }
        every_view = artist_view_ages + show_view_ages  # both name the artist
        expected_hot = decayed_score(vote_ages + old_vote_ages, hot_follow_ages, every_view, 1, 40)
        # now() moved a few milliseconds between planting and scoring: a relative tolerance.
        assert scores[hot] == pytest.approx(expected_hot, rel=1e-4)
        assert scores[quiet] == pytest.approx(decayed_score([], [], [], 1, 90))
        assert scores[faded] == pytest.approx(
            decayed_score([], faded_follow_ages, [], 0, None), rel=1e-4
        )

        show_scores = {
            row["id"]: row["trending_score"]
            for row in await conn.fetch("SELECT id, trending_score FROM shows")
        }
        assert show_scores[hot_show] == pytest.approx(
            decayed_score(vote_ages, hot_follow_ages, show_view_ages, 1, 40), rel=1e-4
        )
        assert show_scores[past_show] == pytest.approx(
            decayed_score(old_vote_ages, hot_follow_ages, [], 0, 40), rel=1e-4
        )

        # The views carry the new scores.
        in_view = {
            row["id"]: row["trending_score"]
            for row in await conn.fetch("SELECT id, trending_score FROM trending_artists_mv")
        }
        assert in_view == scores
        stats = await conn.fetchrow(
            "SELECT vote_count, trending_score FROM show_stats_mv WHERE show_id = $1", hot_show
        )
        assert stats is not None
        assert stats["vote_count"] == len(vote_ages)
        assert stats["trending_score"] == show_scores[hot_show]

        # The cache holds every window's ranking and the top artists' pages.
        for period in keys.PERIODS:
            assert env.cache.peek(keys.trending_ranking(period)) is not None
        assert env.cache.peek(keys.artist_by_id(hot)) is not None


async def test_a_second_run_rewrites_only_moving_scores(database_url: str) -> None:
    async with job_env(database_url) as env, env.pool.acquire() as conn:
        active = await plant_artist(conn, popularity=10)
        for _ in range(3):
            await plant_artist(conn, popularity=50)
        await plant_follow(conn, active, age_s=HOUR_S)
        first = await maintenance.score_artists(conn)
        second = await maintenance.score_artists(conn)
        assert (first.scored, first.updated) == (4, 4)
        # Only the artist with decaying activity moves; the others keep their stored score.
        assert (second.scored, second.updated) == (4, 1)


async def test_an_empty_catalog_scores_nothing_and_succeeds(database_url: str) -> None:
    async with job_env(database_url) as env:
        ctx, _ = env.context("calculate-trending")
        result = await calculate_trending.run(ctx)
        summary = result.summary.as_json()
        assert summary["artistsScored"] == 0
        assert summary["showsScored"] == 0
        assert summary["refreshedViews"] == ["trending_artists_mv", "show_stats_mv"]


async def test_through_the_runner_the_run_succeeds_with_the_summary(database_url: str) -> None:
    async with job_env(database_url) as env:
        async with env.pool.acquire() as conn:
            artist = await plant_artist(conn, popularity=70)
            await plant_show(conn, artist)
            await plant_follow(conn, artist, age_s=HOUR_S)
        runner = JobRunner(env.database, env.upstreams, env.cache, env.holder)
        await runner.start()
        try:
            run = await asyncio.wait_for(runner.run("calculate-trending"), timeout=30)
        finally:
            await runner.close()
        assert run["status"] == "succeeded", run
        assert run["summary"] == {
            "artistsScored": 1,
            "showsScored": 1,
            "refreshedViews": ["trending_artists_mv", "show_stats_mv"],
        }
        stored = await env.pool.fetchval("SELECT trending_score FROM artists WHERE id = $1", artist)
        assert stored == pytest.approx(decayed_score([], [HOUR_S], [], 1, 70), rel=1e-4)
