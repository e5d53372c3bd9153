"""How active an artist is on TheSet right now: what ``update-active-artists`` ranks by.

Activity is what *our* fans do, in recent windows, plus what they will soon be able to do::

    activity = 3   * votes in the last 24 h        (on shows the artist headlines)
             + 1   * votes in the last 7 days      (the 24 h votes included: a fresh vote counts 4)
             + 2   * follows in the last 7 days
             + 0.1 * artist page views in the last 7 days
             + 5   * min(upcoming shows, 10)

- It is the trending score's window form (``catalog/trending.py``, the same weights) without its
  Spotify popularity term, on purpose. Popularity is one of the things this sync refreshes, and
  an artist nobody here votes on, follows or views is not worth two upstream calls every six
  hours, however famous.
- A vote is the strongest everyday signal; a follow is rarer and stronger than one vote; views
  are cheap and noisy (ten weigh one vote). Upcoming shows are what fans will vote on, so an
  artist on tour stays fresh even before the votes come; capped so a long tour cannot buy the top.
- An artist with activity 0 is not active and is never selected.

:data:`STALE_AFTER` is the stale window: an artist synced less than 6 hours ago (the job's own
period, so a scheduled run never redoes the previous run's work) is skipped unless ``forceSync``.
"""

from __future__ import annotations

import datetime as dt

from theset_daemon.catalog import trending

# The trending weights under the names of this module's windows (``db/sync.py`` writes them into
# its SQL), so the two rankings cannot drift apart.
W_VOTES_RECENT = trending.W_VOTES_24H  # the extra weight of a vote of the last RECENT_WINDOW
W_VOTES = trending.W_VOTES_7D
W_FOLLOWS = trending.W_FOLLOWS_7D
W_PAGE_VIEWS = trending.W_PAGE_VIEWS_7D
W_UPCOMING_SHOW = trending.W_UPCOMING_SHOW
MAX_UPCOMING_SHOWS = trending.MAX_UPCOMING_SHOWS

RECENT_WINDOW = dt.timedelta(hours=24)
WINDOW = dt.timedelta(days=7)
STALE_AFTER = dt.timedelta(hours=6)


def activity_score(
    votes_24h: int, votes_7d: int, follows_7d: int, page_views_7d: int, upcoming_shows: int
) -> float:
    """The formula above. ``votes_7d`` includes ``votes_24h``; negative counts read as 0."""
    # An unknown popularity counts 0 in the trending score: what is left is the activity.
    return trending.trending_score(
        votes_24h, votes_7d, follows_7d, page_views_7d, upcoming_shows, popularity=None
    )


def is_stale(last_synced_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether an artist last synced at ``last_synced_at`` is due (never synced: due)."""
    return last_synced_at is None or now - last_synced_at >= STALE_AFTER
