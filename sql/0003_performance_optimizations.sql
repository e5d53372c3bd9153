-- 0003_performance_optimizations.sql: the hot-path indexes, the two materialized views behind the
-- trending reads, and the maintenance functions (refresh, retention cleanup, query statistics).
--
-- Runs inside one transaction (the migrator's), so: no CREATE INDEX CONCURRENTLY, and no
-- non-IMMUTABLE function (now(), current_date) in any index expression or predicate. Time windows
-- live in the materialized views, which are recomputed on refresh. Every statement is idempotent.
--
-- The functions pin search_path to the one in force when this file ran (SET search_path FROM
-- CURRENT), so they act on the schema they were created in whatever the caller's search_path is.

-- ---------------------------------------------------------------------------------------------
-- Indexes
-- ---------------------------------------------------------------------------------------------

-- Artists due for a sync, never-synced first, then most popular first:
--   ORDER BY last_synced_at ASC NULLS FIRST, popularity DESC NULLS LAST LIMIT n
-- (popularity is NULL in Spotify development mode; those artists go last within a tie).
CREATE INDEX IF NOT EXISTS idx_artists_activity_lookup
    ON artists (last_synced_at ASC NULLS FIRST, popularity DESC NULLS LAST);

-- Trending artists, highest score first.
CREATE INDEX IF NOT EXISTS idx_artists_trending_score
    ON artists (trending_score DESC);

-- An artist's shows by date; also the index behind shows.headliner_artist_id (FK cascade).
CREATE INDEX IF NOT EXISTS idx_shows_artist_date
    ON shows (headliner_artist_id, date);

-- Recent voting activity: a created_at range scan (the 7-day window of trending_artists_mv) that
-- carries show_id so the join to shows needs no heap visit. No now() predicate: it would not be
-- IMMUTABLE, and a fixed cut-off would go stale.
CREATE INDEX IF NOT EXISTS idx_votes_recent_activity
    ON votes (created_at DESC, show_id);

-- Duplicate detection within an artist's catalog; also the index behind songs.artist_id.
CREATE INDEX IF NOT EXISTS idx_songs_duplicate_detection
    ON songs (artist_id, normalized_title);

-- ---------------------------------------------------------------------------------------------
-- Materialized views (refreshed by refresh_trending_data(), called by calculate-trending)
-- ---------------------------------------------------------------------------------------------

-- trending_artists_mv: one row per artist with the activity of the last 7 days at refresh time.
-- "Shows of the artist" are the shows it headlines; page_views_7d counts views that name the
-- artist. current_date follows the refreshing session's TimeZone (the daemon uses UTC).
CREATE MATERIALIZED VIEW IF NOT EXISTS trending_artists_mv AS
SELECT
    a.id,
    a.name,
    a.slug,
    a.image_url,
    a.popularity,
    a.followers,
    a.trending_score,
    coalesce(up.upcoming_shows, 0) AS upcoming_shows,
    coalesce(vt.votes_7d, 0)       AS votes_7d,
    coalesce(fl.follows_7d, 0)     AS follows_7d,
    coalesce(pv.page_views_7d, 0)  AS page_views_7d,
    now()                          AS computed_at
FROM artists AS a
LEFT JOIN (
    SELECT s.headliner_artist_id AS artist_id, count(*) AS upcoming_shows
    FROM shows AS s
    WHERE s.status = 'upcoming' AND s.date >= current_date
    GROUP BY s.headliner_artist_id
) AS up ON up.artist_id = a.id
LEFT JOIN (
    SELECT s.headliner_artist_id AS artist_id, count(*) AS votes_7d
    FROM votes AS v
    JOIN shows AS s ON s.id = v.show_id
    WHERE v.created_at >= now() - interval '7 days'
    GROUP BY s.headliner_artist_id
) AS vt ON vt.artist_id = a.id
LEFT JOIN (
    SELECT f.artist_id, count(*) AS follows_7d
    FROM user_follows_artists AS f
    WHERE f.created_at >= now() - interval '7 days'
    GROUP BY f.artist_id
) AS fl ON fl.artist_id = a.id
LEFT JOIN (
    SELECT p.artist_id, count(*) AS page_views_7d
    FROM page_views AS p
    WHERE p.artist_id IS NOT NULL AND p.viewed_at >= now() - interval '7 days'
    GROUP BY p.artist_id
) AS pv ON pv.artist_id = a.id
WITH DATA;

-- Required by REFRESH MATERIALIZED VIEW CONCURRENTLY (a unique, non-partial index on columns).
CREATE UNIQUE INDEX IF NOT EXISTS idx_trending_artists_mv_id
    ON trending_artists_mv (id);
-- GET /api/trending/artists: highest score first.
CREATE INDEX IF NOT EXISTS idx_trending_artists_mv_score
    ON trending_artists_mv (trending_score DESC);

COMMENT ON MATERIALIZED VIEW trending_artists_mv IS
    'Per-artist trending inputs (7-day votes, follows, page views; upcoming shows); see refresh_trending_data().';

-- show_stats_mv: one row per show with its voting and viewing totals. view_count covers the
-- page_views still retained (cleanup_old_data() keeps 90 days by default).
CREATE MATERIALIZED VIEW IF NOT EXISTS show_stats_mv AS
SELECT
    s.id                                AS show_id,
    s.headliner_artist_id,
    s.date,
    s.status,
    coalesce(vt.vote_count, 0)          AS vote_count,
    coalesce(vt.unique_voters, 0)       AS unique_voters,
    coalesce(ps.setlist_song_count, 0)  AS setlist_song_count,
    coalesce(pv.view_count, 0)          AS view_count,
    s.trending_score,
    now()                               AS computed_at
FROM shows AS s
LEFT JOIN (
    SELECT v.show_id, count(*) AS vote_count, count(DISTINCT v.user_id) AS unique_voters
    FROM votes AS v
    GROUP BY v.show_id
) AS vt ON vt.show_id = s.id
LEFT JOIN (
    SELECT sl.show_id, count(*) AS setlist_song_count
    FROM setlists AS sl
    JOIN setlist_songs AS ss ON ss.setlist_id = sl.id
    WHERE sl.type = 'predicted'
    GROUP BY sl.show_id
) AS ps ON ps.show_id = s.id
LEFT JOIN (
    SELECT p.show_id, count(*) AS view_count
    FROM page_views AS p
    WHERE p.show_id IS NOT NULL
    GROUP BY p.show_id
) AS pv ON pv.show_id = s.id
WITH DATA;

CREATE UNIQUE INDEX IF NOT EXISTS idx_show_stats_mv_show_id
    ON show_stats_mv (show_id);

COMMENT ON MATERIALIZED VIEW show_stats_mv IS
    'Per-show vote, voter, predicted-setlist-song and page-view totals; see refresh_trending_data().';

-- ---------------------------------------------------------------------------------------------
-- Functions
-- ---------------------------------------------------------------------------------------------

-- refresh_trending_data: refreshes both views without blocking their readers; one row per view
-- with the time it took. REFRESH ... CONCURRENTLY is allowed inside a transaction (only CREATE
-- INDEX CONCURRENTLY is not); it needs a populated view, so an unpopulated one (created WITH NO
-- DATA by hand, say) gets one plain refresh first.
CREATE OR REPLACE FUNCTION refresh_trending_data()
RETURNS TABLE (view_name text, duration_ms double precision)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    mv         text;
    populated  boolean;
    t0         timestamptz;
BEGIN
    FOREACH mv IN ARRAY ARRAY['trending_artists_mv', 'show_stats_mv'] LOOP
        SELECT c.relispopulated INTO populated
        FROM pg_class AS c
        WHERE c.oid = to_regclass(mv) AND c.relkind = 'm';
        IF NOT FOUND THEN
            RAISE EXCEPTION 'materialized view % does not exist; run the migrations', mv;
        END IF;

        t0 := clock_timestamp();
        IF populated THEN
            EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %I', mv);
        ELSE
            EXECUTE format('REFRESH MATERIALIZED VIEW %I', mv);
        END IF;

        view_name := mv;
        duration_ms := extract(epoch FROM clock_timestamp() - t0)::double precision * 1000;
        RETURN NEXT;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION refresh_trending_data() IS
    'REFRESH MATERIALIZED VIEW CONCURRENTLY trending_artists_mv and show_stats_mv; returns each duration in ms.';

-- cleanup_old_data: retention for the append-only tables, deleted in batches of batch_size rows
-- per statement. Never touches the catalog (songs/shows dedup is the application's job).
-- Everything runs in the caller's transaction (a function cannot commit): the batches bound the
-- size of each statement, not of the transaction.
--   page_views       viewed_at older than page_view_retention
--   import_events    of jobs that finished (completed/failed) longer than event_retention ago
--   cron_run_events  of runs that finished (succeeded/partial/failed) longer than event_retention ago
--   cron_logs        ended runs started longer than run_retention ago (cron_metrics and
--                    cron_run_events cascade, job_leases.run_id is set NULL); the newest run of
--                    each job is kept, so its last run and missed-execution state survive
--   cron_alerts      resolved longer than run_retention ago
CREATE OR REPLACE FUNCTION cleanup_old_data(
    batch_size           integer  DEFAULT 5000,
    page_view_retention  interval DEFAULT '90 days',
    event_retention      interval DEFAULT '30 days',
    run_retention        interval DEFAULT '180 days'
)
RETURNS TABLE (table_name text, rows_deleted bigint)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    page_view_cutoff  timestamptz;
    event_cutoff      timestamptz;
    run_cutoff        timestamptz;
    n                 bigint;
    total             bigint;
BEGIN
    IF batch_size IS NULL OR batch_size <= 0 THEN
        RAISE EXCEPTION 'cleanup_old_data: batch_size must be a positive integer, got %', batch_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A zero or negative retention would delete current data; refuse it rather than obey it.
    IF page_view_retention IS NULL OR page_view_retention <= interval '0'
        OR event_retention IS NULL OR event_retention <= interval '0'
        OR run_retention IS NULL OR run_retention <= interval '0' THEN
        RAISE EXCEPTION 'cleanup_old_data: retentions must be positive intervals, got %, %, %',
            page_view_retention, event_retention, run_retention
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    page_view_cutoff := now() - page_view_retention;
    event_cutoff := now() - event_retention;
    run_cutoff := now() - run_retention;

    total := 0;
    LOOP
        DELETE FROM page_views
        WHERE id IN (
            SELECT p.id FROM page_views AS p
            WHERE p.viewed_at < page_view_cutoff
            LIMIT batch_size
        );
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        EXIT WHEN n < batch_size;
    END LOOP;
    table_name := 'page_views';
    rows_deleted := total;
    RETURN NEXT;

    total := 0;
    LOOP
        DELETE FROM import_events
        WHERE (job_id, seq) IN (
            SELECT e.job_id, e.seq
            FROM import_status AS s
            JOIN import_events AS e ON e.job_id = s.job_id
            WHERE s.status IN ('completed', 'failed') AND s.finished_at < event_cutoff
            LIMIT batch_size
        );
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        EXIT WHEN n < batch_size;
    END LOOP;
    table_name := 'import_events';
    rows_deleted := total;
    RETURN NEXT;

    total := 0;
    LOOP
        DELETE FROM cron_run_events
        WHERE (run_id, seq) IN (
            SELECT e.run_id, e.seq
            FROM cron_logs AS r
            JOIN cron_run_events AS e ON e.run_id = r.id
            WHERE r.status IN ('succeeded', 'partial', 'failed') AND r.finished_at < event_cutoff
            LIMIT batch_size
        );
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        EXIT WHEN n < batch_size;
    END LOOP;
    table_name := 'cron_run_events';
    rows_deleted := total;
    RETURN NEXT;

    total := 0;
    LOOP
        DELETE FROM cron_logs
        WHERE id IN (
            SELECT r.id
            FROM cron_logs AS r
            WHERE r.status NOT IN ('running', 'interrupted')
              AND r.started_at < run_cutoff
              AND EXISTS (
                  SELECT 1 FROM cron_logs AS newer
                  WHERE newer.job_name = r.job_name AND newer.started_at > r.started_at
              )
            LIMIT batch_size
        );
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        EXIT WHEN n < batch_size;
    END LOOP;
    table_name := 'cron_logs';
    rows_deleted := total;
    RETURN NEXT;

    total := 0;
    LOOP
        DELETE FROM cron_alerts
        WHERE id IN (
            SELECT a.id FROM cron_alerts AS a
            WHERE a.resolved_at < run_cutoff
            LIMIT batch_size
        );
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        EXIT WHEN n < batch_size;
    END LOOP;
    table_name := 'cron_alerts';
    rows_deleted := total;
    RETURN NEXT;
END;
$$;

COMMENT ON FUNCTION cleanup_old_data(integer, interval, interval, interval) IS
    'Retention for page_views, import_events, cron_run_events, cron_logs, cron_alerts; batched deletes; returns rows deleted per table.';

-- analyze_query_performance: measured numbers, one (source, object, metric, value) per row.
--   pg_stat_statements   when the extension is installed and loaded: the top 20 statements of
--                        this database by total execution time (calls, total/mean time in ms,
--                        rows). Read through dynamic SQL so this function exists without the
--                        extension; the column names of PostgreSQL 13+ (total_exec_time) and of
--                        older versions (total_time) are both handled.
--   pg_stat_user_tables  per table and materialized view: seq_scan, idx_scan, n_live_tup,
--                        n_dead_tup, total_bytes
--   pg_stat_user_indexes per index: idx_scan, size_bytes
-- Tables and indexes are those of the schemas on this function's search_path (the schema the
-- migrations ran in). The statistics are cumulative since the last stats reset.
CREATE OR REPLACE FUNCTION analyze_query_performance()
RETURNS TABLE (source text, object_name text, metric text, value double precision)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
#variable_conflict use_column
DECLARE
    pss_schema  text;
    pss_view    regclass;
    total_col   text;
    mean_col    text;
BEGIN
    SELECT n.nspname INTO pss_schema
    FROM pg_extension AS e
    JOIN pg_namespace AS n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_stat_statements';

    IF pss_schema IS NOT NULL THEN
        pss_view := to_regclass(format('%I.pg_stat_statements', pss_schema));
        IF pss_view IS NOT NULL THEN
            IF EXISTS (
                SELECT 1 FROM pg_attribute AS att
                WHERE att.attrelid = pss_view AND att.attname = 'total_exec_time'
                  AND NOT att.attisdropped
            ) THEN
                total_col := 'total_exec_time';
                mean_col := 'mean_exec_time';
            ELSE
                total_col := 'total_time';
                mean_col := 'mean_time';
            END IF;

            BEGIN
                RETURN QUERY EXECUTE format(
                    $q$
                    WITH top AS (
                        SELECT st.queryid, st.query, st.calls, st.rows,
                               st.%1$I::double precision AS total_ms,
                               st.%2$I::double precision AS mean_ms
                        FROM %3$s AS st
                        WHERE st.dbid = (SELECT d.oid FROM pg_database AS d
                                         WHERE d.datname = current_database())
                        ORDER BY st.%1$I DESC
                        LIMIT 20
                    )
                    SELECT 'pg_stat_statements'::text,
                           'queryid ' || coalesce(top.queryid::text, '?') || ': '
                               || left(regexp_replace(coalesce(top.query, ''), '\s+', ' ', 'g'), 200),
                           m.metric,
                           m.value
                    FROM top
                    CROSS JOIN LATERAL (VALUES
                        ('calls', top.calls::double precision),
                        ('total_exec_time_ms', top.total_ms),
                        ('mean_exec_time_ms', top.mean_ms),
                        ('rows', top.rows::double precision)
                    ) AS m (metric, value)
                    ORDER BY top.total_ms DESC, m.metric
                    $q$,
                    total_col, mean_col, pss_view);
            EXCEPTION
                -- Installed but not in shared_preload_libraries, or not readable by this role.
                WHEN object_not_in_prerequisite_state OR insufficient_privilege
                    OR undefined_column OR undefined_table THEN
                    RAISE NOTICE 'analyze_query_performance: pg_stat_statements unavailable (%); table statistics only',
                        SQLERRM;
            END;
        END IF;
    END IF;

    RETURN QUERY
    SELECT 'pg_stat_user_tables'::text,
           format('%I.%I', t.schemaname, t.relname),
           m.metric,
           m.value
    FROM pg_stat_user_tables AS t
    CROSS JOIN LATERAL (VALUES
        ('seq_scan', t.seq_scan::double precision),
        ('idx_scan', t.idx_scan::double precision),
        ('n_live_tup', t.n_live_tup::double precision),
        ('n_dead_tup', t.n_dead_tup::double precision),
        ('total_bytes', pg_total_relation_size(t.relid)::double precision)
    ) AS m (metric, value)
    WHERE t.schemaname = ANY (current_schemas(false))
      AND m.value IS NOT NULL          -- idx_scan is NULL for a table without indexes
    ORDER BY 2, 3;

    RETURN QUERY
    SELECT 'pg_stat_user_indexes'::text,
           format('%I.%I', i.schemaname, i.indexrelname),
           m.metric,
           m.value
    FROM pg_stat_user_indexes AS i
    CROSS JOIN LATERAL (VALUES
        ('idx_scan', i.idx_scan::double precision),
        ('size_bytes', pg_relation_size(i.indexrelid)::double precision)
    ) AS m (metric, value)
    WHERE i.schemaname = ANY (current_schemas(false))
    ORDER BY 2, 3;
END;
$$;

COMMENT ON FUNCTION analyze_query_performance() IS
    'Top statements from pg_stat_statements (when available) plus per-table and per-index scan/size statistics.';
