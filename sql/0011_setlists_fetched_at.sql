-- 0011: when an artist's setlist.fm setlists were last read, apart from its Ticketmaster shows.
--
-- Each kind of an artist's data has its own "fetched at" (theset_daemon/catalog/plan.py):
-- releases and profile `last_synced_at` (Spotify), shows `shows_synced_at` (Ticketmaster),
-- setlists `setlists_synced_at` (setlist.fm). Until now the setlists were read with the shows and
-- stamped by `shows_synced_at`, so a setlist.fm failure marked the shows unread or the setlists
-- read. Setlists are due once the artist played a show after this time. NULL: never read.
--
-- Backfill: until this migration the setlists were read together with the shows, so the shows'
-- time is when they were last read.
--
-- Runs inside the migrator's transaction; a second run finds the column and does nothing.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_name = 'artists' AND column_name = 'setlists_synced_at') THEN
        ALTER TABLE artists ADD COLUMN setlists_synced_at timestamptz;
        UPDATE artists SET setlists_synced_at = shows_synced_at;
    END IF;
END $$;
