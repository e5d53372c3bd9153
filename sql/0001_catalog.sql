-- 0001_catalog.sql: the music catalog (artists, venues, shows, songs, setlists) and the activity
-- tables the web app writes (votes, follows, page views) and the daemon reads.
--
-- Runs inside one transaction (the migrator's); every statement is idempotent so a second run is a
-- no-op. Target: PostgreSQL 15 and 16. gen_random_uuid() is core since PostgreSQL 13.
--
-- Lookup indexes on shows(headliner_artist_id) and songs(artist_id) are the composite indexes
-- idx_shows_artist_date and idx_songs_duplicate_detection of 0003_performance_optimizations.sql;
-- they are not duplicated here.

-- Keeps updated_at truthful: the triggers at the end of this file call it on every UPDATE that does
-- not change updated_at itself (their WHEN clause), so an explicit value still wins.
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION set_updated_at() IS
    'BEFORE UPDATE trigger function: sets updated_at = now() (triggers fire it only when the UPDATE left updated_at unchanged).';

-- artists: one row per artist, keyed by our uuid, matched upstream by Spotify/Ticketmaster/MusicBrainz ids.
CREATE TABLE IF NOT EXISTS artists (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                    text NOT NULL,
    slug                    text NOT NULL,
    spotify_id              text,
    ticketmaster_id         text,
    mbid                    text,
    image_url               text,
    genres                  text[] NOT NULL DEFAULT '{}',
    -- NULL when unknown: Spotify's development mode returns neither popularity nor followers.
    popularity              integer,
    followers               integer,
    trending_score          double precision NOT NULL DEFAULT 0,
    total_shows             integer NOT NULL DEFAULT 0,
    upcoming_shows          integer NOT NULL DEFAULT 0,
    total_songs             integer NOT NULL DEFAULT 0,
    total_albums            integer NOT NULL DEFAULT 0,
    last_synced_at          timestamptz,
    song_catalog_synced_at  timestamptz,
    shows_synced_at         timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT artists_slug_key UNIQUE (slug),
    CONSTRAINT artists_spotify_id_key UNIQUE (spotify_id),
    CONSTRAINT artists_ticketmaster_id_key UNIQUE (ticketmaster_id),
    CONSTRAINT artists_mbid_key UNIQUE (mbid),
    CONSTRAINT artists_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT artists_slug_not_blank CHECK (btrim(slug) <> ''),
    CONSTRAINT artists_popularity_range CHECK (popularity BETWEEN 0 AND 100),
    CONSTRAINT artists_followers_nonneg CHECK (followers >= 0),
    CONSTRAINT artists_totals_nonneg CHECK (
        total_shows >= 0 AND upcoming_shows >= 0 AND total_songs >= 0 AND total_albums >= 0
    )
);

COMMENT ON TABLE artists IS 'Catalog: one row per artist; upstream ids are unique when known.';

-- venues: places where shows happen, matched by Ticketmaster venue id.
CREATE TABLE IF NOT EXISTS venues (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    ticketmaster_id  text,
    name             text NOT NULL,
    slug             text NOT NULL,
    address          text,
    city             text,
    state            text,
    state_code       text,
    country          text,
    country_code     text,
    postal_code      text,
    timezone         text,
    latitude         double precision,
    longitude        double precision,
    capacity         integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT venues_ticketmaster_id_key UNIQUE (ticketmaster_id),
    CONSTRAINT venues_slug_key UNIQUE (slug),
    CONSTRAINT venues_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT venues_slug_not_blank CHECK (btrim(slug) <> ''),
    CONSTRAINT venues_latitude_range CHECK (latitude BETWEEN -90 AND 90),
    CONSTRAINT venues_longitude_range CHECK (longitude BETWEEN -180 AND 180),
    CONSTRAINT venues_capacity_nonneg CHECK (capacity >= 0)
);

COMMENT ON TABLE venues IS 'Catalog: one row per venue (Ticketmaster venue id when known).';

-- shows: one concert of a headlining artist on a date, optionally at a venue.
CREATE TABLE IF NOT EXISTS shows (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    headliner_artist_id  uuid NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    -- A venue removed by a cleanup leaves the show without a place rather than deleting it.
    venue_id             uuid REFERENCES venues (id) ON DELETE SET NULL,
    ticketmaster_id      text,
    setlistfm_id         text,
    slug                 text NOT NULL,
    name                 text NOT NULL,
    date                 date NOT NULL,
    start_time           time,
    status               text NOT NULL DEFAULT 'upcoming',
    ticket_url           text,
    min_price            numeric(10, 2),
    max_price            numeric(10, 2),
    currency             text,
    view_count           integer NOT NULL DEFAULT 0,
    vote_count           integer NOT NULL DEFAULT 0,
    trending_score       double precision NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT shows_ticketmaster_id_key UNIQUE (ticketmaster_id),
    CONSTRAINT shows_setlistfm_id_key UNIQUE (setlistfm_id),
    CONSTRAINT shows_slug_key UNIQUE (slug),
    CONSTRAINT shows_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT shows_slug_not_blank CHECK (btrim(slug) <> ''),
    CONSTRAINT shows_status_valid CHECK (
        status IN ('upcoming', 'ongoing', 'completed', 'cancelled', 'postponed')
    ),
    CONSTRAINT shows_prices_valid CHECK (
        min_price >= 0 AND max_price >= 0 AND min_price <= max_price
    ),
    CONSTRAINT shows_counts_nonneg CHECK (view_count >= 0 AND vote_count >= 0)
);

CREATE INDEX IF NOT EXISTS idx_shows_venue_id ON shows (venue_id);
-- Upcoming-show scans by date (sync selection, "shows this week").
CREATE INDEX IF NOT EXISTS idx_shows_date ON shows (date);

COMMENT ON TABLE shows IS 'Catalog: one concert of a headliner on a date; support acts in show_artists.';

-- show_artists: every artist on a show's bill (headliner and support), in running order.
CREATE TABLE IF NOT EXISTS show_artists (
    show_id       uuid NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    artist_id     uuid NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    order_index   integer NOT NULL DEFAULT 0,
    is_headliner  boolean NOT NULL DEFAULT false,
    set_length    integer,
    PRIMARY KEY (show_id, artist_id),
    CONSTRAINT show_artists_order_nonneg CHECK (order_index >= 0),
    CONSTRAINT show_artists_set_length_nonneg CHECK (set_length >= 0)
);

CREATE INDEX IF NOT EXISTS idx_show_artists_artist_id ON show_artists (artist_id);

COMMENT ON TABLE show_artists IS 'Catalog: the bill of a show (headliner and support acts).';

-- songs: one studio or live recording of an artist (deduplicated by the application).
CREATE TABLE IF NOT EXISTS songs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    spotify_id        text,
    artist_id         uuid NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    name              text NOT NULL,
    -- Written by the application's title normaliser; the dedup key together with artist_id.
    normalized_title  text NOT NULL,
    album_name        text,
    album_id          text,          -- Spotify album id
    album_type        text,
    album_image_url   text,
    release_date      date,
    track_number      integer,
    disc_number       integer,
    duration_ms       integer,
    popularity        integer,       -- NULL in Spotify development mode
    preview_url       text,
    spotify_uri       text,
    is_explicit       boolean NOT NULL DEFAULT false,
    is_live           boolean NOT NULL DEFAULT false,
    is_remix          boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT songs_spotify_id_key UNIQUE (spotify_id),
    CONSTRAINT songs_album_type_valid CHECK (album_type IN ('album', 'single', 'compilation')),
    CONSTRAINT songs_track_number_positive CHECK (track_number >= 1),
    CONSTRAINT songs_disc_number_positive CHECK (disc_number >= 1),
    CONSTRAINT songs_duration_positive CHECK (duration_ms > 0),
    CONSTRAINT songs_popularity_range CHECK (popularity BETWEEN 0 AND 100)
);

COMMENT ON TABLE songs IS 'Catalog: one song of an artist; one row per distinct studio song or live recording.';

-- artist_songs: which artists perform a song (primary artist and featured artists).
CREATE TABLE IF NOT EXISTS artist_songs (
    artist_id   uuid NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    song_id     uuid NOT NULL REFERENCES songs (id) ON DELETE CASCADE,
    is_primary  boolean NOT NULL DEFAULT true,
    PRIMARY KEY (artist_id, song_id)
);

CREATE INDEX IF NOT EXISTS idx_artist_songs_song_id ON artist_songs (song_id);

COMMENT ON TABLE artist_songs IS 'Catalog: artist <-> song credits (primary and featured).';

-- setlists: the predicted (voted) or actual (setlist.fm) setlist of one artist at one show.
CREATE TABLE IF NOT EXISTS setlists (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    show_id         uuid NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    artist_id       uuid NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    type            text NOT NULL,
    setlistfm_id    text,
    name            text,
    is_locked       boolean NOT NULL DEFAULT false,
    total_votes     integer NOT NULL DEFAULT 0,
    accuracy_score  double precision,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- One predicted and one actual setlist per artist per show.
    CONSTRAINT setlists_show_artist_type_key UNIQUE (show_id, artist_id, type),
    CONSTRAINT setlists_setlistfm_id_key UNIQUE (setlistfm_id),
    CONSTRAINT setlists_type_valid CHECK (type IN ('predicted', 'actual')),
    CONSTRAINT setlists_total_votes_nonneg CHECK (total_votes >= 0),
    CONSTRAINT setlists_accuracy_range CHECK (accuracy_score BETWEEN 0 AND 100)
);

-- The unique key leads with show_id; artist deletes and per-artist reads need their own index.
CREATE INDEX IF NOT EXISTS idx_setlists_artist_id ON setlists (artist_id);

COMMENT ON TABLE setlists IS 'Catalog: predicted or actual setlist of one artist at one show.';

-- setlist_songs: the ordered songs of a setlist, with their vote tallies.
CREATE TABLE IF NOT EXISTS setlist_songs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    setlist_id  uuid NOT NULL REFERENCES setlists (id) ON DELETE CASCADE,
    song_id     uuid NOT NULL REFERENCES songs (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    upvotes     integer NOT NULL DEFAULT 0,
    downvotes   integer NOT NULL DEFAULT 0,
    is_played   boolean,             -- NULL until the actual setlist is known
    played_at   timestamptz,
    notes       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Deferrable so a reorder can swap positions in one transaction (SET CONSTRAINTS ... DEFERRED).
    -- A deferrable constraint cannot be an ON CONFLICT arbiter; upsert on (setlist_id, song_id).
    CONSTRAINT setlist_songs_setlist_position_key UNIQUE (setlist_id, position)
        DEFERRABLE INITIALLY IMMEDIATE,
    CONSTRAINT setlist_songs_setlist_song_key UNIQUE (setlist_id, song_id),
    CONSTRAINT setlist_songs_position_positive CHECK (position >= 1),
    CONSTRAINT setlist_songs_votes_nonneg CHECK (upvotes >= 0 AND downvotes >= 0)
);

-- Song deletes (dedup merges) cascade here; without this index each one scans the table.
CREATE INDEX IF NOT EXISTS idx_setlist_songs_song_id ON setlist_songs (song_id);

COMMENT ON TABLE setlist_songs IS 'Catalog: ordered songs of a setlist with up/down vote tallies.';

-- votes: one user's up or down vote on one setlist song (written by the web app).
CREATE TABLE IF NOT EXISTS votes (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid NOT NULL,
    setlist_song_id  uuid NOT NULL REFERENCES setlist_songs (id) ON DELETE CASCADE,
    -- Denormalised from setlist_song -> setlist -> show for fast activity queries.
    show_id          uuid NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    vote_type        text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT votes_user_setlist_song_key UNIQUE (user_id, setlist_song_id),
    CONSTRAINT votes_vote_type_valid CHECK (vote_type IN ('up', 'down'))
);

CREATE INDEX IF NOT EXISTS idx_votes_setlist_song_id ON votes (setlist_song_id);
-- Per-show aggregates (show_stats_mv) and show deletes.
CREATE INDEX IF NOT EXISTS idx_votes_show_id ON votes (show_id, created_at);

COMMENT ON TABLE votes IS 'Activity (web app): one vote per user per setlist song.';

-- user_follows_artists: which users follow which artists (written by the web app).
CREATE TABLE IF NOT EXISTS user_follows_artists (
    user_id     uuid NOT NULL,
    artist_id   uuid NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, artist_id)
);

CREATE INDEX IF NOT EXISTS idx_user_follows_artists_artist_created
    ON user_follows_artists (artist_id, created_at);

COMMENT ON TABLE user_follows_artists IS 'Activity (web app): user follows artist.';

-- page_views: one view of an artist or show page (written by the web app; pruned after 90 days).
CREATE TABLE IF NOT EXISTS page_views (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    artist_id   uuid REFERENCES artists (id) ON DELETE CASCADE,
    show_id     uuid REFERENCES shows (id) ON DELETE CASCADE,
    user_id     uuid,
    session_id  text,
    viewed_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT page_views_target_present CHECK (artist_id IS NOT NULL OR show_id IS NOT NULL)
);

CREATE INDEX IF NOT EXISTS idx_page_views_artist_viewed ON page_views (artist_id, viewed_at);
CREATE INDEX IF NOT EXISTS idx_page_views_show_viewed ON page_views (show_id, viewed_at);
CREATE INDEX IF NOT EXISTS idx_page_views_viewed_at ON page_views (viewed_at);

COMMENT ON TABLE page_views IS 'Activity (web app): artist/show page views; retention in cleanup_old_data().';

-- updated_at triggers for the catalog and activity tables (CREATE OR REPLACE TRIGGER needs
-- PostgreSQL 14+). Operations tables (0002) are written only by the daemon, which sets their
-- timestamps deliberately (updatedAt is part of the API), so they have none.
CREATE OR REPLACE TRIGGER artists_set_updated_at
    BEFORE UPDATE ON artists FOR EACH ROW
    WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
    EXECUTE FUNCTION set_updated_at();

CREATE OR REPLACE TRIGGER venues_set_updated_at
    BEFORE UPDATE ON venues FOR EACH ROW
    WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
    EXECUTE FUNCTION set_updated_at();

CREATE OR REPLACE TRIGGER shows_set_updated_at
    BEFORE UPDATE ON shows FOR EACH ROW
    WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
    EXECUTE FUNCTION set_updated_at();

CREATE OR REPLACE TRIGGER songs_set_updated_at
    BEFORE UPDATE ON songs FOR EACH ROW
    WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
    EXECUTE FUNCTION set_updated_at();

CREATE OR REPLACE TRIGGER setlists_set_updated_at
    BEFORE UPDATE ON setlists FOR EACH ROW
    WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
    EXECUTE FUNCTION set_updated_at();

CREATE OR REPLACE TRIGGER setlist_songs_set_updated_at
    BEFORE UPDATE ON setlist_songs FOR EACH ROW
    WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
    EXECUTE FUNCTION set_updated_at();

CREATE OR REPLACE TRIGGER votes_set_updated_at
    BEFORE UPDATE ON votes FOR EACH ROW
    WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
    EXECUTE FUNCTION set_updated_at();
