"""Migrations against a real Postgres: from empty, again as a no-op, refusal of changed files,
two processes at once, and the objects of 0003_performance_optimizations.sql doing real work."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import asyncpg
import pytest

from theset_daemon.db.migrate import SQL_DIR, MigrationError, discover, migrate

CATALOG_TABLES = {
    "artists", "venues", "shows", "show_artists", "songs", "song_credits", "setlists",
    "setlist_songs", "votes", "user_follows_artists", "page_views",
}  # fmt: skip
OPERATIONS_TABLES = {
    "import_status", "import_events", "cron_logs", "cron_run_events", "cron_metrics",
    "cron_alerts", "job_leases", "schema_migrations",
}  # fmt: skip
PERFORMANCE_INDEXES = {
    "idx_artists_activity_lookup", "idx_artists_trending_score", "idx_shows_artist_date",
    "idx_votes_recent_activity", "idx_songs_duplicate_detection",
}  # fmt: skip


async def test_from_empty_then_again_as_a_no_op(conn: asyncpg.Connection) -> None:
    migrations = discover()
    assert [m.name for m in migrations][:3] == [
        "0001_catalog.sql",
        "0002_operations.sql",
        "0003_performance_optimizations.sql",
    ]
    assert await migrate(conn, migrations) == [m.name for m in migrations]
    assert await migrate(conn, migrations) == []

    tables = {
        r["tablename"]
        for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    assert tables >= CATALOG_TABLES | OPERATIONS_TABLES
    views = {r["viewname"] for r in await conn.fetch("SELECT viewname FROM pg_views")}
    assert "artist_songs" in views and "artist_songs" not in tables
    recorded = await conn.fetch("SELECT name, checksum FROM schema_migrations ORDER BY name")
    assert [(r["name"], r["checksum"]) for r in recorded] == [
        (m.name, m.checksum) for m in migrations
    ]


async def test_performance_objects_exist_and_work(conn: asyncpg.Connection) -> None:
    await migrate(conn, discover())
    indexes = {r["indexname"] for r in await conn.fetch("SELECT indexname FROM pg_indexes")}
    assert indexes >= PERFORMANCE_INDEXES
    # Each materialized view has a unique index, which REFRESH ... CONCURRENTLY requires.
    for view in ("trending_artists_mv", "show_stats_mv"):
        unique = await conn.fetchval(
            """SELECT count(*) FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname
               JOIN pg_index x ON x.indexrelid = c.oid
               WHERE i.tablename = $1 AND x.indisunique""",
            view,
        )
        assert unique >= 1, view

    artist_id = await conn.fetchval(
        "INSERT INTO artists (name, slug, popularity) VALUES ('Band', 'band', 50) RETURNING id"
    )
    venue_id = await conn.fetchval(
        "INSERT INTO venues (name, slug, city) VALUES ('Hall', 'hall', 'Oslo') RETURNING id"
    )
    await conn.execute(
        """INSERT INTO shows (headliner_artist_id, venue_id, slug, name, date)
           VALUES ($1, $2, 'band-hall', 'Band at Hall', current_date + 7)""",
        artist_id,
        venue_id,
    )
    await conn.execute("INSERT INTO page_views (artist_id) VALUES ($1)", artist_id)

    refreshed = await conn.fetch("SELECT * FROM refresh_trending_data()")
    assert {r["view_name"] for r in refreshed} == {"trending_artists_mv", "show_stats_mv"}
    await conn.fetch("SELECT * FROM refresh_trending_data()")  # concurrently, a second time
    row = await conn.fetchrow("SELECT * FROM trending_artists_mv WHERE id = $1", artist_id)
    assert row is not None and row["upcoming_shows"] == 1 and row["page_views_7d"] == 1
    assert await conn.fetchval("SELECT count(*) FROM show_stats_mv") == 1

    await conn.execute(
        "INSERT INTO page_views (artist_id, viewed_at) VALUES ($1, now() - interval '400 days')",
        artist_id,
    )
    deleted = {
        r["table_name"]: r["rows_deleted"]
        for r in await conn.fetch("SELECT * FROM cleanup_old_data(batch_size => 1)")
    }
    assert deleted["page_views"] == 1
    assert await conn.fetchval("SELECT count(*) FROM page_views") == 1
    with pytest.raises(asyncpg.PostgresError):
        await conn.fetch("SELECT * FROM cleanup_old_data(0)")

    stats = await conn.fetch("SELECT * FROM analyze_query_performance()")
    assert stats, "analyze_query_performance() reported nothing"
    by_object = {(r["object_name"], r["metric"]): r["value"] for r in stats}
    assert any(name.endswith("artists") for name, _metric in by_object)
    assert all(value is not None and value >= 0 for value in by_object.values())


async def test_cleanup_retires_the_events_of_every_finished_import_partial_included(
    conn: asyncpg.Connection,
) -> None:
    await migrate(conn, discover())
    artist_id = await conn.fetchval(
        "INSERT INTO artists (name, slug) VALUES ('Band', 'band') RETURNING id"
    )
    jobs = {}
    for status in ("completed", "partial", "failed", "running"):
        finished = None if status == "running" else "now() - interval '40 days'"
        jobs[status] = await conn.fetchval(
            f"""INSERT INTO import_status (artist_id, status, stage, started_at, finished_at)
                VALUES ($1, $2, 'done', now() - interval '41 days', {finished or "NULL"})
                RETURNING job_id""",
            artist_id,
            status,
        )
        await conn.execute(
            """INSERT INTO import_events (job_id, seq, event, payload)
               VALUES ($1, 1, 'progress', '{}')""",
            jobs[status],
        )
    cleaned = await conn.fetch("SELECT * FROM cleanup_old_data()")
    deleted = {r["table_name"]: r["rows_deleted"] for r in cleaned}
    assert deleted["import_events"] == 3
    left = await conn.fetch("SELECT job_id FROM import_events")
    assert [r["job_id"] for r in left] == [jobs["running"]]  # a running import keeps its log


async def test_0006_keeps_every_credit_and_stores_only_the_unimplied_ones(
    conn: asyncpg.Connection,
) -> None:
    # A database at 0005 with credits in the artist_songs table: each song's own artist, and a
    # guest on one song.
    migrations = discover()
    upgrade = next(i for i, m in enumerate(migrations) if m.name.startswith("0006_"))
    await migrate(conn, migrations[:upgrade])
    band, guest = await conn.fetchval(
        """WITH a AS (INSERT INTO artists (name, slug) VALUES ('Band', 'band'), ('Guest', 'guest')
                      RETURNING id, name)
           SELECT array_agg(id ORDER BY name) FROM a"""
    )
    songs = await conn.fetchval(
        """WITH s AS (INSERT INTO songs (artist_id, name, normalized_title)
                      VALUES ($1, 'One', 'one'), ($1, 'Two', 'two') RETURNING id)
           SELECT array_agg(id) FROM s""",
        band,
    )
    await conn.execute(
        """INSERT INTO artist_songs (artist_id, song_id, is_primary)
           SELECT $1::uuid, unnest($2::uuid[]), true UNION ALL SELECT $3::uuid, $4::uuid, false""",
        band,
        songs,
        guest,
        songs[0],
    )
    credits = "SELECT artist_id, song_id, is_primary FROM artist_songs ORDER BY 1, 2"
    before = [tuple(r) for r in await conn.fetch(credits)]

    assert await migrate(conn, migrations) == [m.name for m in migrations[upgrade:]]

    assert [tuple(r) for r in await conn.fetch(credits)] == before
    stored = await conn.fetch("SELECT artist_id, song_id, is_primary FROM song_credits")
    assert [tuple(r) for r in stored] == [(guest, songs[0], False)]
    # A deleted song takes its credits with it, as the table's cascade did.
    await conn.execute("DELETE FROM songs WHERE id = $1", songs[0])
    assert [tuple(r) for r in await conn.fetch(credits)] == [(band, songs[1], True)]


async def test_constraints_reject_bad_rows(conn: asyncpg.Connection) -> None:
    await migrate(conn, discover())
    bad = [
        "INSERT INTO artists (name, slug, popularity) VALUES ('A', 'a', 101)",
        "INSERT INTO artists (name, slug) VALUES ('  ', 'blank')",
        "INSERT INTO venues (name, slug, latitude) VALUES ('V', 'v', 91)",
    ]
    for sql in bad:
        with pytest.raises(asyncpg.IntegrityConstraintViolationError):
            await conn.execute(sql)
    artist = await conn.fetchval("INSERT INTO artists (name, slug) VALUES ('A', 'a') RETURNING id")
    await conn.execute(
        "INSERT INTO import_status (job_id, artist_id, status, stage) "
        "VALUES (gen_random_uuid(), $1, 'running', 'artist')",
        artist,
    )
    with pytest.raises(asyncpg.UniqueViolationError):  # one running import per artist
        await conn.execute(
            "INSERT INTO import_status (job_id, artist_id, status, stage) "
            "VALUES (gen_random_uuid(), $1, 'running', 'artist')",
            artist,
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "INSERT INTO cron_logs (job_name, trigger, status) VALUES ('bogus', 'http', 'running')"
        )


async def test_a_changed_applied_migration_is_refused_by_name(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    await migrate(conn, discover(sql_dir))
    changed = sql_dir / "0002_operations.sql"
    changed.write_text(changed.read_text() + "\n-- an edit after the fact\n")
    (sql_dir / "0999_new.sql").write_text("CREATE TABLE must_not_exist (id int);")

    with pytest.raises(MigrationError, match=r"0002_operations\.sql") as info:
        await migrate(conn, discover(sql_dir))
    assert "0001_catalog.sql" not in str(info.value)
    assert await conn.fetchval("SELECT to_regclass('must_not_exist')") is None


async def test_a_failing_migration_rolls_back_whole(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    (sql_dir / "0001_ok.sql").write_text("CREATE TABLE a (id int);")
    (sql_dir / "0002_broken.sql").write_text(
        "CREATE TABLE b (id int); SELECT no_such_column FROM a;"
    )
    with pytest.raises(MigrationError, match=r"0002_broken\.sql"):
        await migrate(conn, discover(sql_dir))
    assert await conn.fetchval("SELECT to_regclass('a')") is not None
    assert await conn.fetchval("SELECT to_regclass('b')") is None
    assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 1


@pytest.mark.parametrize("name", ["1_short.sql", "0001-dash.sql", "0001_Upper.sql"])
def test_discover_refuses_badly_named_files(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN"):
        discover(tmp_path)


def test_discover_refuses_duplicate_numbers(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="share the number"):
        discover(tmp_path)


async def test_two_processes_migrating_at_once_do_not_collide(
    empty_database_url: str, tmp_path: Path
) -> None:
    database_url = empty_database_url
    config_file = tmp_path / "config.toml"
    config_file.write_text('[log]\nlevel = "warning"\n')
    env = {**os.environ, "DATABASE_URL": database_url, "THESET_CONFIG": str(config_file)}
    command = [sys.executable, "-m", "theset_daemon.cli", "migrate"]
    procs = [
        await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [await asyncio.wait_for(p.communicate(), timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    printed = "".join(out.decode() for out, _err in outputs)
    for migration in discover():
        assert printed.count(f"applied {migration.name}") == 1, printed

    conn = await asyncpg.connect(database_url)
    try:
        names = [r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")]
    finally:
        await conn.close()
    assert sorted(names) == [m.name for m in discover()]
