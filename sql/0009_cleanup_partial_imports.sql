-- 0009: cleanup_old_data() retires the events of `partial` imports too.
--
-- 0008 made `partial` a terminal status of an import (it has a `finished_at`), but the retention
-- in cleanup_old_data() (0003) still named only `completed` and `failed`, so a partial import's
-- events were kept for ever. The function is the same as 0003's but for that list.
--
-- Retention, as in 0003:
--   page_views       viewed_at older than page_view_retention
--   import_events    of jobs that finished (completed/partial/failed) longer than event_retention ago
--   cron_run_events  of runs that finished (succeeded/partial/failed) longer than event_retention ago
--   cron_logs        ended runs started longer than run_retention ago (the newest run of each job kept)
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
            WHERE s.status IN ('completed', 'partial', 'failed') AND s.finished_at < event_cutoff
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
