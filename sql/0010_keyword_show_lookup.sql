-- 0010: when an artist's shows were last searched for by name (a Ticketmaster keyword search).
--
-- The jobs ask Ticketmaster for shows by attraction id, up to 25 artists a query
-- (theset_daemon/refresh/grouped_shows.py). An artist without a linked attraction id can only be
-- found by name, one request each, so the jobs search for it at most once per
-- `[jobs] keyword_show_lookup_days`; the import's keyword search stamps it too. NULL: never
-- searched, so due now.
--
-- Runs inside the migrator's transaction; a second run finds the column and does nothing.

ALTER TABLE artists ADD COLUMN IF NOT EXISTS shows_keyword_searched_at timestamptz;
