"""The one catalog refresh: an artist's discography, shows and setlists from the upstreams, with
one set of rules for the importer and every job.

The rules:

- **Writes are upserts** keyed by the provider's ids; an unchanged row is not rewritten, so a
  repeated or resumed refresh converges on the same rows.
- **Songs**: one per :func:`~theset_daemon.catalog.song_key`, the copy kept chosen by
  :func:`~theset_daemon.catalog.choose_canonical`; the album art is
  :func:`~theset_daemon.catalog.best_image_url`'s, the release date
  :func:`~theset_daemon.catalog.release_date`'s.
- **Deletes**: only a complete read of an artist's whole discography (every release batch and
  every popularity batch answered) deletes, and only the artist's songs missing from it. A song
  that a setlist lists (predicted or actual) or a vote refers to is never deleted. A read of new
  releases only (update-active-artists) adds songs and never deletes or replaces one. Shows,
  venues and setlists are never deleted by a refresh.
- **Predicted setlists**: after every refresh that stores shows or songs, each upcoming show
  without one gets one.
- **Failures**: one failed upstream batch is a warning (what was read is stored, nothing is
  deleted); a refresh that read nothing stores nothing.
- **Quota refusals** (:class:`~theset_daemon.upstream.errors.QuotaExhausted`, nothing sent) are
  not warnings: the refresh raises it and stores and stamps nothing of that kind, so the kind
  stays unsynced and the next sync takes it up (a job then stops calling that provider for the
  run: ``jobs.quota_stops``).

Who calls what:

- the importer: phase 1 :func:`artist_row`, phase 2 :func:`refresh_shows` (by keyword and by
  attraction: two requests for one artist), phase 3 :func:`refresh_discography`;
- trending-artist-sync: :func:`refresh_discography` (songs only: it asks Ticketmaster nothing);
- update-active-artists: :func:`read_releases`, :func:`store_new_songs`,
  :class:`PageShows` and :func:`store_found_shows`, :func:`predict_setlists`, :func:`artist_row`;
- complete-catalog-sync: :func:`artist_row`, :func:`read_releases`, :func:`store_new_songs`,
  :class:`PageShows` and :func:`store_found`, then :func:`refresh_played_setlists` (the setlists
  of the artists who played, by the feed or one by one: ``refresh/played_setlists.py``).

The jobs' shows come from :class:`PageShows` (``refresh/grouped_shows.py``): attraction queries
shared by up to 25 artists, keyword searches only for artists without an attraction id and at most
once per ``[jobs] keyword_show_lookup_days``.

Cache invalidation stays with the callers, which know when a batch of artists is done.
"""

from theset_daemon.refresh.artists import artist_row
from theset_daemon.refresh.discography import (
    DiscographyRefresh,
    NewReleases,
    choose_songs,
    fetch_releases,
    new_release_songs,
    refresh_discography,
    store_new_songs,
    track_popularity,
)
from theset_daemon.refresh.gather import UpstreamErrorGroup
from theset_daemon.refresh.grouped_shows import (
    EVENTS_PER_QUERY,
    FoundEvents,
    PageShows,
    store_found,
    store_found_shows,
)
from theset_daemon.refresh.new_releases import Releases, read_releases
from theset_daemon.refresh.played_setlists import PlayedSetlists, refresh_played_setlists
from theset_daemon.refresh.setlists import (
    PREDICTED_SETLIST_SIZE,
    predict_setlists,
    refresh_past_setlists,
)
from theset_daemon.refresh.shows import (
    ShowsRefresh,
    mark_shows_synced,
    refresh_shows,
    show_rows,
    store_shows,
)

__all__ = [
    "EVENTS_PER_QUERY",
    "PREDICTED_SETLIST_SIZE",
    "DiscographyRefresh",
    "FoundEvents",
    "NewReleases",
    "PageShows",
    "PlayedSetlists",
    "Releases",
    "ShowsRefresh",
    "UpstreamErrorGroup",
    "artist_row",
    "choose_songs",
    "fetch_releases",
    "mark_shows_synced",
    "new_release_songs",
    "predict_setlists",
    "read_releases",
    "refresh_discography",
    "refresh_past_setlists",
    "refresh_played_setlists",
    "refresh_shows",
    "show_rows",
    "store_found",
    "store_found_shows",
    "store_new_songs",
    "store_shows",
    "track_popularity",
]
