-- 0013: the seed's column names, so its "Log Analysis" SQL runs unchanged on our schema.
--
-- The seed (TheSet's design document, docs/CRON_JOBS_AND_PERFORMANCE.md, "Log Analysis") reads
-- `cron_logs.created_at`, `cron_metrics.created_at` and `cron_metrics.execution_time_ms`; ours
-- are `started_at`, `recorded_at` and `duration_ms`. Each seed name is a generated column that
-- always equals ours: the daemon keeps writing its own names (a generated column cannot be
-- written, so nothing can make the two disagree), and both names read the same value.
--
-- Why STORED generated columns, not a view or a trigger: the seed's queries name the tables
-- themselves, so only a column of the table answers them; a trigger could be bypassed, and
-- `VIRTUAL` generated columns need PostgreSQL 18. Cost: 8 bytes a row, computed once per insert
-- (a cron_logs row per run, a cron_metrics row per run: a few a day), and one rewrite of each
-- table here, both small (runs and metrics are kept `run_retention`, 0003). No index: the
-- seed's queries read at most 7 days of a few runs a day, and an index would cost every write.
--
-- Runs inside the migrator's transaction; a second run finds the columns and does nothing.

ALTER TABLE cron_logs
    ADD COLUMN IF NOT EXISTS created_at timestamptz GENERATED ALWAYS AS (started_at) STORED;

ALTER TABLE cron_metrics
    ADD COLUMN IF NOT EXISTS created_at timestamptz GENERATED ALWAYS AS (recorded_at) STORED,
    ADD COLUMN IF NOT EXISTS execution_time_ms bigint GENERATED ALWAYS AS (duration_ms) STORED;

COMMENT ON COLUMN cron_logs.created_at IS
    'The seed''s name for started_at (generated, read-only): its Log Analysis SQL runs unchanged.';
COMMENT ON COLUMN cron_metrics.created_at IS
    'The seed''s name for recorded_at (generated, read-only): its Log Analysis SQL runs unchanged.';
COMMENT ON COLUMN cron_metrics.execution_time_ms IS
    'The seed''s name for duration_ms (generated, read-only): its Log Analysis SQL runs unchanged.';
