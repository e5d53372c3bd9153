-- 0005: what the monitor needs to tell the daemon's own gaps from a job's misses.
--
-- daemon_instances: one row per daemon process that ever ran against this database, with its
-- heartbeat. A new process that finds no instance alive records the time since the last beat as
-- a 'down' gap; scheduled fires inside a gap are reported as the daemon's, never as "missed".
CREATE TABLE IF NOT EXISTS daemon_instances (
    holder        text PRIMARY KEY,                      -- host:pid:nonce, as in job_leases
    started_at    timestamptz NOT NULL DEFAULT now(),
    last_beat_at  timestamptz NOT NULL DEFAULT now(),
    stopped_at    timestamptz,
    CONSTRAINT daemon_instances_beat_after_start CHECK (last_beat_at >= started_at)
);

CREATE INDEX IF NOT EXISTS idx_daemon_instances_last_beat ON daemon_instances (last_beat_at DESC);

COMMENT ON TABLE daemon_instances IS 'Operations: daemon processes and their heartbeats (monitor).';

-- daemon_gaps: stretches when no daemon could run jobs ('down') or one's event loop stalled.
CREATE TABLE IF NOT EXISTS daemon_gaps (
    id          bigserial PRIMARY KEY,
    holder      text NOT NULL,                            -- who noticed it
    kind        text NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz NOT NULL,
    CONSTRAINT daemon_gaps_kind_valid CHECK (kind IN ('down', 'stall')),
    CONSTRAINT daemon_gaps_ordered CHECK (ended_at >= started_at)
);

CREATE INDEX IF NOT EXISTS idx_daemon_gaps_ended ON daemon_gaps (ended_at DESC);

COMMENT ON TABLE daemon_gaps IS 'Operations: daemon downtime and event-loop stalls (monitor).';
