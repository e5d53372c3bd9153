"""``GET /api/artists/{idOrSlug}`` and ``GET /api/trending/artists`` through the real aiohttp
server and ``build_app``, over a real Postgres (rows inserted with SQL) and, where it matters, a
real Redis: shapes, ETag/304, caching and invalidation, validation, warming, Redis loss."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.plugins.redis_server import RedisServer
from theset_daemon import config
from theset_daemon.app import build_app
from theset_daemon.appkeys import CACHE, DATABASE
from theset_daemon.cache import keys
from theset_daemon.cache.reads import Reads, artists_changed, warm_trending
from theset_daemon.config import SettingsHolder

ORIGIN = "https://theset.live"
RADIOHEAD = uuid.UUID("00000000-0000-4000-8000-000000000001")
BJORK = uuid.UUID("00000000-0000-4000-8000-000000000002")
LOW = uuid.UUID("00000000-0000-4000-8000-000000000003")
HOME = uuid.UUID("00000000-0000-4000-8000-0000000000a1")

Client = Callable[..., Awaitable[TestClient]]


def make_settings(database_url: str, redis_url: str | None = None) -> config.Settings:
    text = f'[server]\ncors_origins = ["{ORIGIN}"]\n[log]\nlevel = "warning"\n'
    env = {"DATABASE_URL": database_url}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return config.parse(text, env)


@pytest.fixture
def make_client(aiohttp_client: Any, database_url: str) -> Client:
    async def make(redis_url: str | None = None) -> TestClient:
        holder = SettingsHolder(make_settings(database_url, redis_url), Path("unused.toml"))
        client: TestClient = await aiohttp_client(build_app(holder))
        await seed(client)
        return client

    return make


@pytest.fixture
async def client(make_client: Client) -> TestClient:
    return await make_client()


async def sql(client: TestClient, query: str, *args: Any) -> Any:
    pool: asyncpg.Pool = client.app[DATABASE].pool
    return await pool.execute(query, *args)


async def seed(client: TestClient) -> None:
    """Three artists; shows past, upcoming and cancelled; songs; activity in three windows."""
    await sql(
        client,
        """
        INSERT INTO artists (id, name, slug, spotify_id, genres, popularity, followers,
                             trending_score)
        VALUES ($1, 'Radiohead', 'radiohead', '4Z8W4fKeB5YxbusRsdQVPb', '{rock,art rock}', 80,
                9000000, 12.5),
               ($2, 'Björk', 'bjork', NULL, '{}', 70, NULL, 30.0),
               ($3, 'Low', 'low', NULL, '{slowcore}', NULL, NULL, 1.0)
        """,
        RADIOHEAD,
        BJORK,
        LOW,
    )
    await sql(
        client,
        """
        INSERT INTO venues (id, name, slug, city, country)
        VALUES ($1, 'Home Arena', 'home-arena', 'Oxford', 'GB')
        """,
        HOME,
    )
    await sql(
        client,
        """
        INSERT INTO shows (id, headliner_artist_id, venue_id, slug, name, date, status, min_price,
                           max_price, currency)
        VALUES
          (gen_random_uuid(), $1, $3, 'rh-next', 'Radiohead at Home', current_date + 10,
           'upcoming', 35.5, 90, 'GBP'),
          (gen_random_uuid(), $1, NULL, 'rh-later', 'Radiohead somewhere', current_date + 40,
           'upcoming', NULL, NULL, NULL),
          (gen_random_uuid(), $1, $3, 'rh-past', 'Radiohead last year', current_date - 300,
           'completed', NULL, NULL, NULL),
          (gen_random_uuid(), $1, $3, 'rh-off', 'Radiohead cancelled', current_date + 5,
           'cancelled', NULL, NULL, NULL),
          ('00000000-0000-4000-8000-0000000000b1', $2, $3, 'bjork-home', 'Björk at Home',
           current_date + 3, 'upcoming', NULL, NULL, NULL)
        """,
        RADIOHEAD,
        BJORK,
        HOME,
    )
    # Radiohead supports Björk on one show: it is on Radiohead's page too, as support.
    await sql(
        client,
        "INSERT INTO show_artists (show_id, artist_id, order_index, is_headliner) "
        "VALUES ('00000000-0000-4000-8000-0000000000b1', $1, 1, false)",
        RADIOHEAD,
    )
    await sql(
        client,
        """
        INSERT INTO songs (artist_id, name, normalized_title, album_name, popularity, is_live,
                           duration_ms, release_date)
        VALUES ($1, 'Creep', 'creep', 'Pablo Honey', 85, false, 238000, '1993-02-22'),
               ($1, 'Creep (Live)', 'creep', 'Live', 95, true, 250000, '1994-01-01'),
               ($1, 'Reckoner', 'reckoner', 'In Rainbows', 70, false, 290000, '2007-10-10'),
               ($1, 'Nude', 'nude', 'In Rainbows', NULL, false, 255000, '2007-10-10')
        """,
        RADIOHEAD,
    )
    # Activity: Low has 3 follows today (day, week, month); Björk 5 page views 3 days ago
    # (week, month); Radiohead 9 page views 20 days ago (month only).
    await sql(
        client,
        "INSERT INTO user_follows_artists (user_id, artist_id, created_at) "
        "SELECT gen_random_uuid(), $1, now() - interval '1 hour' FROM generate_series(1, 3)",
        LOW,
    )
    await sql(
        client,
        "INSERT INTO page_views (artist_id, viewed_at) "
        "SELECT $1, now() - interval '3 days' FROM generate_series(1, 5)",
        BJORK,
    )
    await sql(
        client,
        "INSERT INTO page_views (artist_id, viewed_at) "
        "SELECT $1, now() - interval '20 days' FROM generate_series(1, 9)",
        RADIOHEAD,
    )


# --- artist page -------------------------------------------------------------------------------


async def test_artist_page_by_id_and_by_slug(client: TestClient) -> None:
    response = await client.get(f"/api/artists/{RADIOHEAD}")
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=60"
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    page = await response.json()
    artist = page["artist"]
    assert artist["id"] == str(RADIOHEAD) and artist["slug"] == "radiohead"
    assert artist["spotifyId"] == "4Z8W4fKeB5YxbusRsdQVPb" and artist["genres"] == [
        "rock",
        "art rock",
    ]
    assert artist["popularity"] == 80 and artist["followers"] == 9000000
    # Upcoming only (no past, no cancelled), soonest first, support slots included.
    shows = page["upcomingShows"]
    assert [s["slug"] for s in shows] == ["bjork-home", "rh-next", "rh-later"]
    assert [s["isHeadliner"] for s in shows] == [False, True, True]
    assert shows[1]["venue"] == {
        "id": str(HOME), "name": "Home Arena", "slug": "home-arena", "city": "Oxford",
        "state": None, "country": "GB",
    }  # fmt: skip
    assert shows[1]["minPrice"] == 35.5 and shows[2]["venue"] is None
    # Top songs: studio only, most popular first, unknown popularity last.
    assert [s["name"] for s in page["topSongs"]] == ["Creep", "Reckoner", "Nude"]

    by_slug = await client.get("/api/artists/radiohead")
    assert by_slug.status == 200 and await by_slug.json() == page
    assert by_slug.headers["ETag"] == etag  # same bytes, same validator

    upper = await client.get(f"/api/artists/{str(RADIOHEAD).upper()}")
    assert upper.status == 200 and upper.headers["ETag"] == etag

    bjork = await (await client.get("/api/artists/bjork")).json()
    assert bjork["artist"]["name"] == "Björk" and bjork["topSongs"] == []


async def test_etag_and_304(client: TestClient) -> None:
    first = await client.get("/api/artists/radiohead")
    etag = first.headers["ETag"]
    for header in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        response = await client.get("/api/artists/radiohead", headers={"If-None-Match": header})
        assert response.status == 304, header
        assert response.headers["ETag"] == etag and await response.read() == b""
        assert response.headers["Cache-Control"] == "public, max-age=60"
    response = await client.get("/api/artists/radiohead", headers={"If-None-Match": '"other"'})
    assert response.status == 200 and await response.read() == await first.read()


async def test_cached_until_the_artist_changes(client: TestClient) -> None:
    first = await client.get(f"/api/artists/{RADIOHEAD}")
    await client.get("/api/artists/radiohead")
    await sql(client, "UPDATE artists SET name = 'Radiohead (renamed)' WHERE id = $1", RADIOHEAD)
    cached = await client.get(f"/api/artists/{RADIOHEAD}")
    assert cached.headers["ETag"] == first.headers["ETag"]  # served from the cache
    # A sync that changed the artist invalidates its tag: both keys (id, slug) go.
    assert await artists_changed(client.app[CACHE], [RADIOHEAD]) == 2
    for path in (f"/api/artists/{RADIOHEAD}", "/api/artists/radiohead"):
        response = await client.get(path)
        assert (await response.json())["artist"]["name"] == "Radiohead (renamed)"
        assert response.headers["ETag"] != first.headers["ETag"]


async def test_unknown_artists_are_404(client: TestClient) -> None:
    for ref in (str(uuid.uuid4()), str(uuid.uuid4()).upper(), "no-such-artist", "Radiohead"):
        response = await client.get(f"/api/artists/{ref}")
        body = await response.json()
        assert response.status == 404, ref
        assert body["error"]["code"] == "not_found"
    # A not-found answer is cached briefly, never for the artist TTL.
    entry = client.app[CACHE].peek(keys.artist_by_slug("no-such-artist"))
    assert entry is not None and entry.negative


@pytest.mark.parametrize(
    "path",
    [
        "/api/artists/..%2F..%2Fetc%2Fpasswd",
        "/api/artists/%2e%2e",
        "/api/artists/..",
        "/api/artists/a%20b",
        "/api/artists/%00",
        "/api/artists/trending:*",
        "/api/artists/x'%3B%20DROP%20TABLE%20artists%3B--",
        "/api/artists/" + "a" * 201,
        "/api/artists/-leading-dash",
        "/api/artists/%F0%9F%92%A9",
        "/api/artists/%ff%fe",
        "/api/artists/%7B%7D",
    ],
)
async def test_junk_ids_are_400_or_404_never_500(client: TestClient, path: str) -> None:
    response = await client.get(path)
    assert response.status in (400, 404), (path, response.status)
    body = await response.json()
    assert body["error"]["code"] in ("invalid_request", "not_found")
    if response.status == 400:
        assert body["error"]["message"].startswith("idOrSlug")
    assert (await client.get("/api/artists/radiohead")).status == 200


# --- trending ----------------------------------------------------------------------------------


async def trending(client: TestClient, query: str = "") -> tuple[int, Any]:
    response = await client.get(f"/api/trending/artists{query}")
    return response.status, await response.json()


async def test_trending_ranks_by_activity_in_the_window(client: TestClient) -> None:
    status, week = await trending(client)
    assert status == 200
    assert week["period"] == "week" and week["limit"] == 20
    assert [a["slug"] for a in week["artists"]] == ["bjork", "low", "radiohead"]
    assert week["artists"][0]["activity"] == {"votes": 0, "follows": 0, "pageViews": 5}
    assert [a["rank"] for a in week["artists"]] == [1, 2, 3]
    assert week["artists"][0]["upcomingShows"] == 1

    _, day = await trending(client, "?period=day")
    assert [a["slug"] for a in day["artists"]][:1] == ["low"]
    _, month = await trending(client, "?period=month&limit=2")
    assert [a["slug"] for a in month["artists"]] == ["radiohead", "bjork"]
    assert month["limit"] == 2


async def test_trending_etag_and_304(client: TestClient) -> None:
    response = await client.get("/api/trending/artists?period=day&limit=5")
    etag = response.headers["ETag"]
    assert response.headers["Cache-Control"] == "public, max-age=60"
    again = await client.get(
        "/api/trending/artists?period=day&limit=5", headers={"If-None-Match": etag}
    )
    assert again.status == 304


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?period=year", "period"),
        ("?period=", "period"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=abc", "limit"),
        ("?limit=1.5", "limit"),
        ("?limit=5&limit=6", "limit"),
        ("?colour=red", "colour"),
    ],
)
async def test_trending_validation(client: TestClient, query: str, field: str) -> None:
    status, body = await trending(client, query)
    assert status == 400, body
    assert body["error"]["code"] == "invalid_request"
    assert body["error"]["message"].startswith(field)


async def test_trending_follows_invalidation_and_warming(client: TestClient) -> None:
    cache = client.app[CACHE]
    _, before = await trending(client, "?period=day&limit=1")
    assert before["artists"][0]["slug"] == "low"
    # New activity: Radiohead gets 10 follows today; the cached list does not know yet.
    await sql(
        client,
        "INSERT INTO user_follows_artists (user_id, artist_id) "
        "SELECT gen_random_uuid(), $1 FROM generate_series(1, 10)",
        RADIOHEAD,
    )
    _, cached = await trending(client, "?period=day&limit=1")
    assert cached == before
    # calculate-trending's warming drops every list, reloads them and the top artists' pages.
    summary = await warm_trending(Reads(client.app[DATABASE], cache), top=2)
    assert summary.lists == 6 and summary.failed == 0
    assert summary.artists == 3 and summary.loaded == 3
    assert cache.peek(keys.trending_artists("week", 20)) is not None
    assert cache.peek(keys.artist_by_id(RADIOHEAD)) is not None
    _, after = await trending(client, "?period=day&limit=1")
    assert after["artists"][0]["slug"] == "radiohead"
    # Warming again loads no page that is already cached.
    again = await warm_trending(Reads(client.app[DATABASE], cache), top=2)
    assert again.loaded == 0 and again.artists == 3


async def test_an_artist_change_drops_the_lists_it_appears_in(client: TestClient) -> None:
    _, week = await trending(client)
    await sql(client, "UPDATE artists SET name = 'Björk Guðmundsdóttir' WHERE id = $1", BJORK)
    await artists_changed(client.app[CACHE], [BJORK])
    _, after = await trending(client)
    assert after["artists"][0]["name"] == "Björk Guðmundsdóttir" != week["artists"][0]["name"]


# --- the rest of the contract ------------------------------------------------------------------


async def test_openapi_cors_and_readiness(client: TestClient) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    artist_op = doc["paths"]["/api/artists/{idOrSlug}"]["get"]
    ref = artist_op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/ArtistPage"
    assert {"304", "400", "404"} <= set(artist_op["responses"])
    trending_op = doc["paths"]["/api/trending/artists"]["get"]
    params = {p["name"]: p for p in trending_op["parameters"]}
    assert params["period"]["schema"]["enum"] == ["day", "week", "month"]
    assert params["limit"]["schema"]["maximum"] == 100
    assert {"ArtistPage", "TrendingArtists", "ShowSummary"} <= set(doc["components"]["schemas"])

    response = await client.get("/api/artists/radiohead", headers={"Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]
    preflight = await client.options(
        "/api/trending/artists",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status == 204 and "GET" in preflight.headers["Access-Control-Allow-Methods"]

    ready = await (await client.get("/readyz")).json()
    assert ready["components"]["cache"]["status"] == "up"
    assert ready["components"]["cache"]["details"]["tiers"] == ["memory"]


async def test_reads_survive_redis_loss(
    make_client: Client, redis_url: str, redis_server: RedisServer
) -> None:
    client = await make_client(redis_url)
    paths = [f"/api/artists/{RADIOHEAD}", "/api/artists/bjork", "/api/artists/low",
             "/api/trending/artists", "/api/trending/artists?period=day&limit=2"]  # fmt: skip
    statuses: list[int] = []

    async def read_all() -> None:
        for path in paths:
            response = await client.get(path)
            await response.read()
            statuses.append(response.status)

    await read_all()
    ready = await (await client.get("/readyz")).json()
    assert ready["components"]["cache"]["details"]["tiers"] == ["memory", "redis"]
    redis_server.kill()
    for _ in range(5):
        await asyncio.gather(read_all(), read_all())
    ready_response = await client.get("/readyz")
    ready = await ready_response.json()
    assert ready_response.status == 200  # degraded is still ready
    assert ready["components"]["cache"]["status"] == "degraded"
    redis_server.start()
    cache = client.app[CACHE]
    deadline = asyncio.get_running_loop().time() + 10
    while not cache.redis_up:
        assert asyncio.get_running_loop().time() < deadline, "no reconnection"
        await asyncio.sleep(0.02)
    await read_all()
    assert statuses == [200] * len(statuses) and len(statuses) == 12 * len(paths)
    metrics = cache.metrics.registry.get_sample_value("theset_cache_backend_up")
    assert metrics == 1
