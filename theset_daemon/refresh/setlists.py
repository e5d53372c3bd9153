"""An artist's setlists: predicted ones for its upcoming shows, actual ones from setlist.fm.

- **Predicted.** After every refresh that stores shows or songs, each upcoming show of the artist
  that has no predicted setlist gets one of :data:`PREDICTED_SETLIST_SIZE` songs (the most
  popular studio songs). It runs after the shows' or songs' own commit, not inside it: an import
  stores shows and songs side by side, and whichever commits last then sees both. A show keeps
  the predicted setlist it has (fans vote on it).
- **Actual.** The newest page of the artist's setlist.fm setlists (:data:`SETLIST_PAGES`): the
  setlists of shows that have happened, songs matched to the catalog by normalised title. The
  artist's MusicBrainz id, which setlist.fm keys on, is looked up once by name and kept.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg

from theset_daemon.catalog import normalize_title, show_slug, venue_slug
from theset_daemon.db import catalog as store
from theset_daemon.db import setlists as setlists_db
from theset_daemon.log import get_logger
from theset_daemon.upstream.clients import Upstreams
from theset_daemon.upstream.setlistfm import Setlist
from theset_daemon.upstream.ticketmaster import name_key

log = get_logger(__name__)

PREDICTED_SETLIST_SIZE = 10  # within the 8-12 the product asks for
#: setlist.fm pages read per artist and refresh: the newest 20 setlists; older ones were stored
#: by earlier refreshes (or are too old to matter for predictions), and this bounds the quota.
SETLIST_PAGES = 1


async def predict_setlists(pool: asyncpg.Pool, artist_id: UUID) -> int:
    """A predicted setlist for each upcoming show of the artist that has none; how many."""
    async with pool.acquire() as conn:
        return await setlists_db.predict_setlists(conn, artist_id, PREDICTED_SETLIST_SIZE)


async def refresh_past_setlists(
    up: Upstreams, pool: asyncpg.Pool, artist_id: UUID, artist_name: str, mbid: str | None
) -> setlists_db.SetlistCounts | None:
    """Store the artist's newest setlist.fm setlists of shows that happened; None when
    setlist.fm does not know the artist (or its MusicBrainz id is another artist row's)."""
    if mbid is None:
        wanted = name_key(artist_name)
        found = await up.setlistfm.search_artists(artist_name)
        mbid = next((a.mbid for a in found if name_key(a.name) == wanted), None)
        if mbid is None:
            return None
        async with pool.acquire() as conn:
            if not await store.set_external_id(conn, artist_id, "mbid", mbid):
                return None  # another artist row holds it: whose setlists these are is unclear
    setlists = await up.setlistfm.artist_setlists(mbid, max_pages=SETLIST_PAGES)
    today = dt.datetime.now(dt.UTC).date()
    past = [past_setlist(artist_name, s) for s in setlists if s.event_date < today]
    if not past:
        return setlists_db.SetlistCounts(0, 0, 0, 0)
    async with pool.acquire() as conn, conn.transaction():
        counts = await setlists_db.store_past_setlists(conn, artist_id, past)
    log.debug(
        "catalog_sync_setlists_stored",
        artist_id=str(artist_id),
        shows_created=counts.shows_created,
        setlists_created=counts.setlists_created,
        songs_matched=counts.songs_matched,
    )
    return counts


def past_setlist(artist_name: str, setlist: Setlist) -> setlists_db.PastSetlist:
    """The rows a setlist.fm setlist becomes."""
    venue = setlist.venue
    venue_name = venue.name if venue is not None and venue.name else None
    city = venue.city.name if venue is not None and venue.city is not None else None
    # setlist.fm venue ids are not Ticketmaster's: the venue row is keyed by a slug carrying it.
    slug = (
        f"{venue_slug(venue_name, city)}-fm-{venue.id[-8:].lower()}"
        if venue is not None and venue_name and venue.id
        else None
    )
    return setlists_db.PastSetlist(
        setlistfm_id=setlist.id,
        date=setlist.event_date,
        name=f"{artist_name} at {venue_name}" if venue_name else artist_name,
        tour=setlist.tour.name if setlist.tour is not None else None,
        venue_name=venue_name,
        venue_slug=slug,
        city=city,
        titles=tuple(normalize_title(title) for title in setlist.songs_played),
        show_slug=f"{show_slug(artist_name, venue_name, setlist.event_date)}"
        f"-fm-{setlist.id[-8:].lower()}",
    )
