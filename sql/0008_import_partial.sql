-- 0008: an import can end `partial` (CONTRACT.md sections 3 and 9).
--
-- Phases 2 (shows, Ticketmaster) and 3 (songs, Spotify) no longer take each other down: an import
-- where one of them failed keeps what the other stored and ends `partial`, with the failed
-- phase's code in `error`, and the artist marked so the next sync fills in what is missing.
-- `partial` is terminal, like `completed` and `failed`: it has a `finished_at`.
--
-- Runs inside the migrator's transaction; dropping and re-adding the two checks makes a second
-- run a no-op.

ALTER TABLE import_status DROP CONSTRAINT IF EXISTS import_status_status_valid;
ALTER TABLE import_status ADD CONSTRAINT import_status_status_valid CHECK (
    status IN ('running', 'completed', 'partial', 'failed', 'interrupted')
);

ALTER TABLE import_status DROP CONSTRAINT IF EXISTS import_status_finished_iff_terminal;
ALTER TABLE import_status ADD CONSTRAINT import_status_finished_iff_terminal CHECK (
    (finished_at IS NOT NULL) = (status IN ('completed', 'partial', 'failed'))
);
