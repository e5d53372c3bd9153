-- 0006: a song's primary credit is its own artist (songs.artist_id), no longer a second row.
--
-- Until now every song had a copy of songs.artist_id in artist_songs: one more row, two more
-- index entries and two more foreign-key checks a song, about 30 % of a new song's write
-- (make bench), for a fact the song row already holds, and a chance for the two to disagree
-- (a song with no credit row, which an integrity check had to look for and a cleanup to mend).
--
-- Now:
--   song_credits  the credits songs.artist_id does not imply: featured artists, or a second
--                 primary artist. A song's own artist is never listed here.
--   artist_songs  a view with the old table's columns and rows: every song's own artist
--                 (is_primary true), then song_credits. Readers keep their queries; a filter on
--                 artist_id or song_id reaches the indexes of both sides (songs'
--                 idx_songs_duplicate_detection and primary key, song_credits' keys).
--
-- The catalog tables are written by the daemon alone (the web app writes activity), so nothing
-- inserts into artist_songs any more. Runs inside the migrator's transaction; a second run finds
-- the view and does nothing.

CREATE TABLE IF NOT EXISTS song_credits (
    artist_id   uuid NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    song_id     uuid NOT NULL REFERENCES songs (id) ON DELETE CASCADE,
    is_primary  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (artist_id, song_id)
);

CREATE INDEX IF NOT EXISTS idx_song_credits_song_id ON song_credits (song_id);

COMMENT ON TABLE song_credits IS
    'Catalog: credits besides the song''s own artist (songs.artist_id, its primary credit).';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relname = 'artist_songs' AND c.relkind = 'r'
                 AND n.nspname = current_schema()) THEN
        -- Keep what songs.artist_id does not already say; the rest is implied from now on.
        INSERT INTO song_credits (artist_id, song_id, is_primary)
        SELECT c.artist_id, c.song_id, c.is_primary
        FROM artist_songs AS c JOIN songs AS s ON s.id = c.song_id
        WHERE c.artist_id <> s.artist_id
        ON CONFLICT (artist_id, song_id) DO NOTHING;
        DROP TABLE artist_songs;
    END IF;
END;
$$;

CREATE OR REPLACE VIEW artist_songs AS
    SELECT artist_id, id AS song_id, true AS is_primary FROM songs
    UNION ALL
    SELECT artist_id, song_id, is_primary FROM song_credits;

COMMENT ON VIEW artist_songs IS
    'Catalog: artist <-> song credits: each song''s own artist (primary), then song_credits.';
