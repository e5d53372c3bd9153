-- 0002_operations.sql: what the daemon itself records: artist import jobs and their event logs,
-- cron runs with their event logs, metrics and alerts, and the per-job leases.
--
-- Runs inside one transaction (the migrator's); every statement is idempotent. The JSON columns
-- hold the shapes of CONTRACT.md sections 3-5; the jsonb_typeof checks catch a double-encoded
-- value (a JSON string where an object was meant) at write time.

-- import_status: one row per artist import job; the ImportStatus of CONTRACT.md section 3.
CREATE TABLE IF NOT EXISTS import_status (
    job_id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    artist_id       uuid NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    status          text NOT NULL,
    stage           text NOT NULL,
    progress        integer NOT NULL DEFAULT 0,
    message         text NOT NULL DEFAULT '',
    shows_count     integer NOT NULL DEFAULT 0,
    venues_count    integer NOT NULL DEFAULT 0,
    albums_count    integer NOT NULL DEFAULT 0,
    songs_count     integer NOT NULL DEFAULT 0,
    error           jsonb,                               -- {"code", "message"} when failed
    checkpoint      jsonb NOT NULL DEFAULT '{}',         -- where a resumed job picks up
    request         jsonb NOT NULL DEFAULT '{}',         -- what the import was asked with
    owner_id        text,                                -- the daemon instance running it
    heartbeat_at    timestamptz,
    attempts        integer NOT NULL DEFAULT 1,
    last_event_seq  integer NOT NULL DEFAULT 0,          -- seq of the newest import_events row
    started_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    CONSTRAINT import_status_status_valid CHECK (
        status IN ('running', 'completed', 'failed', 'interrupted')
    ),
    CONSTRAINT import_status_stage_valid CHECK (stage IN ('artist', 'shows', 'songs', 'done')),
    CONSTRAINT import_status_progress_range CHECK (progress BETWEEN 0 AND 100),
    CONSTRAINT import_status_counts_nonneg CHECK (
        shows_count >= 0 AND venues_count >= 0 AND albums_count >= 0 AND songs_count >= 0
    ),
    CONSTRAINT import_status_error_object CHECK (error IS NULL OR jsonb_typeof(error) = 'object'),
    CONSTRAINT import_status_checkpoint_object CHECK (jsonb_typeof(checkpoint) = 'object'),
    CONSTRAINT import_status_request_object CHECK (jsonb_typeof(request) = 'object'),
    CONSTRAINT import_status_attempts_positive CHECK (attempts >= 1),
    CONSTRAINT import_status_last_event_seq_nonneg CHECK (last_event_seq >= 0),
    -- Terminal jobs have finished_at; running and interrupted (resumable) ones do not.
    CONSTRAINT import_status_finished_iff_terminal CHECK (
        (finished_at IS NOT NULL) = (status IN ('completed', 'failed'))
    )
);

-- At most one running import per artist: a second request is deduplicated onto the first.
-- ON CONFLICT (artist_id) WHERE status = 'running' infers this index.
CREATE UNIQUE INDEX IF NOT EXISTS import_status_one_running_per_artist
    ON import_status (artist_id) WHERE status = 'running';
-- Artist deletes cascade here, and "latest import of this artist" reads it.
CREATE INDEX IF NOT EXISTS idx_import_status_artist_started
    ON import_status (artist_id, started_at DESC);
CREATE INDEX IF NOT EXISTS idx_import_status_status_updated
    ON import_status (status, updated_at);

COMMENT ON TABLE import_status IS 'Operations: one row per artist import job (CONTRACT.md section 3).';

-- import_events: the persisted SSE log of an import job; seq is the SSE id (1, 2, 3 ... per job).
CREATE TABLE IF NOT EXISTS import_events (
    job_id      uuid NOT NULL REFERENCES import_status (job_id) ON DELETE CASCADE,
    seq         integer NOT NULL,
    event       text NOT NULL,
    payload     jsonb NOT NULL,                          -- an ImportStatus
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, seq),
    CONSTRAINT import_events_seq_positive CHECK (seq >= 1),
    CONSTRAINT import_events_event_valid CHECK (event IN ('progress', 'complete', 'failed')),
    CONSTRAINT import_events_payload_object CHECK (jsonb_typeof(payload) = 'object')
);

COMMENT ON TABLE import_events IS 'Operations: SSE event log of an import job, replayed after Last-Event-ID.';

-- cron_logs: one row per cron run; id is the runId; the Run of CONTRACT.md section 4.
CREATE TABLE IF NOT EXISTS cron_logs (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job_name        text NOT NULL,
    trigger         text NOT NULL,
    scheduled_for   timestamptz,                         -- the fire time; NULL for http/cli runs
    params          jsonb NOT NULL DEFAULT '{}',
    status          text NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    duration_ms     bigint,
    progress_done   integer NOT NULL DEFAULT 0,
    progress_total  integer NOT NULL DEFAULT 0,
    summary         jsonb NOT NULL DEFAULT '{}',
    errors          jsonb NOT NULL DEFAULT '[]',         -- [{"artistId", "message"}], at most 50
    error           text,                                -- why a failed run failed
    checkpoint      jsonb NOT NULL DEFAULT '{}',
    holder          text,                                -- the daemon instance running it
    last_event_seq  integer NOT NULL DEFAULT 0,
    attempts        integer NOT NULL DEFAULT 1,
    -- A scheduled fire runs once; NULLs are distinct, so http/cli runs never collide here.
    CONSTRAINT cron_logs_job_scheduled_for_key UNIQUE (job_name, scheduled_for),
    CONSTRAINT cron_logs_job_name_valid CHECK (job_name IN (
        'update-active-artists', 'trending-artist-sync', 'complete-catalog-sync', 'calculate-trending'
    )),
    CONSTRAINT cron_logs_trigger_valid CHECK (trigger IN ('schedule', 'http', 'cli')),
    CONSTRAINT cron_logs_status_valid CHECK (
        status IN ('running', 'succeeded', 'partial', 'failed', 'interrupted')
    ),
    CONSTRAINT cron_logs_duration_nonneg CHECK (duration_ms >= 0),
    CONSTRAINT cron_logs_progress_nonneg CHECK (progress_done >= 0 AND progress_total >= 0),
    CONSTRAINT cron_logs_params_object CHECK (jsonb_typeof(params) = 'object'),
    CONSTRAINT cron_logs_summary_object CHECK (jsonb_typeof(summary) = 'object'),
    CONSTRAINT cron_logs_errors_array CHECK (jsonb_typeof(errors) = 'array'),
    CONSTRAINT cron_logs_checkpoint_object CHECK (jsonb_typeof(checkpoint) = 'object'),
    CONSTRAINT cron_logs_attempts_positive CHECK (attempts >= 1),
    CONSTRAINT cron_logs_last_event_seq_nonneg CHECK (last_event_seq >= 0),
    -- Ended runs have finished_at; running and interrupted (resumable) ones do not.
    CONSTRAINT cron_logs_finished_iff_terminal CHECK (
        (finished_at IS NOT NULL) = (status IN ('succeeded', 'partial', 'failed'))
    )
);

-- A job runs at most once at a time across every daemon sharing the database (the lease is the
-- first guard; this index is the last). ON CONFLICT (job_name) WHERE status = 'running' infers it.
CREATE UNIQUE INDEX IF NOT EXISTS cron_logs_one_running_per_job
    ON cron_logs (job_name) WHERE status = 'running';
-- GET /api/cron/runs?job=...: newest first; also consecutive-failure and error-rate rules.
CREATE INDEX IF NOT EXISTS idx_cron_logs_job_started
    ON cron_logs (job_name, started_at DESC);
-- Start-up resume: the few runs left running or interrupted.
CREATE INDEX IF NOT EXISTS idx_cron_logs_status_active
    ON cron_logs (status) WHERE status IN ('running', 'interrupted');

COMMENT ON TABLE cron_logs IS 'Operations: one row per cron run; id is the runId (CONTRACT.md section 4).';

-- cron_run_events: the persisted SSE log of a cron run; seq is the SSE id, payload a Run.
CREATE TABLE IF NOT EXISTS cron_run_events (
    run_id      uuid NOT NULL REFERENCES cron_logs (id) ON DELETE CASCADE,
    seq         integer NOT NULL,
    event       text NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq),
    CONSTRAINT cron_run_events_seq_positive CHECK (seq >= 1),
    CONSTRAINT cron_run_events_event_valid CHECK (event IN ('progress', 'complete', 'failed')),
    CONSTRAINT cron_run_events_payload_object CHECK (jsonb_typeof(payload) = 'object')
);

COMMENT ON TABLE cron_run_events IS 'Operations: SSE event log of a cron run.';

-- cron_metrics: the resource figures of one finished run (feeds the monitoring metrics).
CREATE TABLE IF NOT EXISTS cron_metrics (
    run_id             uuid PRIMARY KEY REFERENCES cron_logs (id) ON DELETE CASCADE,
    job_name           text NOT NULL,
    duration_ms        bigint NOT NULL,
    peak_memory_bytes  bigint,
    api_calls          jsonb NOT NULL DEFAULT '{}',      -- {"spotify": n, "ticketmaster": n, ...}
    rate_limited       integer NOT NULL DEFAULT 0,
    cache_hits         integer NOT NULL DEFAULT 0,
    cache_misses       integer NOT NULL DEFAULT 0,
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cron_metrics_duration_nonneg CHECK (duration_ms >= 0),
    CONSTRAINT cron_metrics_peak_memory_nonneg CHECK (peak_memory_bytes >= 0),
    CONSTRAINT cron_metrics_counts_nonneg CHECK (
        rate_limited >= 0 AND cache_hits >= 0 AND cache_misses >= 0
    ),
    CONSTRAINT cron_metrics_api_calls_object CHECK (jsonb_typeof(api_calls) = 'object')
);

CREATE INDEX IF NOT EXISTS idx_cron_metrics_job_recorded
    ON cron_metrics (job_name, recorded_at DESC);

COMMENT ON TABLE cron_metrics IS 'Operations: per-run metrics (duration, memory, API calls, cache).';

-- cron_alerts: alerts fired by the monitor's rules; active while resolved_at IS NULL.
CREATE TABLE IF NOT EXISTS cron_alerts (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job_name          text NOT NULL,
    rule              text NOT NULL,
    severity          text NOT NULL,
    message           text NOT NULL,
    details           jsonb NOT NULL DEFAULT '{}',
    channels          text[] NOT NULL DEFAULT '{}',      -- channels notified: email, slack, pagerduty
    fired_at          timestamptz NOT NULL DEFAULT now(),
    resolved_at       timestamptz,
    last_notified_at  timestamptz,
    notify_count      integer NOT NULL DEFAULT 0,
    CONSTRAINT cron_alerts_rule_valid CHECK (
        rule IN ('error_rate', 'slow_run', 'consecutive_failures', 'missed_execution')
    ),
    CONSTRAINT cron_alerts_severity_valid CHECK (severity IN ('warning', 'critical')),
    CONSTRAINT cron_alerts_details_object CHECK (jsonb_typeof(details) = 'object'),
    CONSTRAINT cron_alerts_notify_count_nonneg CHECK (notify_count >= 0)
);

-- One active alert per job and rule (it notifies once on fire and once on resolve).
CREATE UNIQUE INDEX IF NOT EXISTS cron_alerts_one_active_per_job_rule
    ON cron_alerts (job_name, rule) WHERE resolved_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_cron_alerts_fired_at ON cron_alerts (fired_at DESC);

COMMENT ON TABLE cron_alerts IS 'Operations: monitor alerts; active while resolved_at IS NULL.';

-- job_leases: who may run a job now; an expired lease can be taken over by another instance.
CREATE TABLE IF NOT EXISTS job_leases (
    job_name     text PRIMARY KEY,
    holder       text NOT NULL,
    run_id       uuid REFERENCES cron_logs (id) ON DELETE SET NULL,
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    renewed_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    CONSTRAINT job_leases_expiry_after_acquire CHECK (expires_at > acquired_at)
);

-- cron_logs deletes (cleanup_old_data) set run_id to NULL here.
CREATE INDEX IF NOT EXISTS idx_job_leases_run_id ON job_leases (run_id);

COMMENT ON TABLE job_leases IS 'Operations: per-job lease (holder, expiry) taken by the job runner.';
