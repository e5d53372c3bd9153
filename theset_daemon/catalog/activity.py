"""How active an artist is on TheSet right now: what ``update-active-artists`` ranks by.

Activity is what *our* fans do, in recent windows, plus what they will soon be able to do::

    activity = 3   * votes in the last 24 h        (on shows the artist headlines)
             + 1   * votes in the last 7 days      (the 24 h votes included: a fresh vote counts 4)
             + 2   * follows in the last 7 days
             + 0.1 * artist page views in the last 7 days
             + 5   * min(upcoming shows, 10)

- It differs from the trending score (``catalog/trending.py``) on purpose: no Spotify popularity
  term. Popularity is one of the things this sync refreshes, and an artist nobody here votes on,
  follows or views is not worth two upstream calls every six hours, however famous.
- A vote is the strongest everyday signal; a follow is rarer and stronger than one vote; views
  are cheap and noisy (ten weigh one vote). Upcoming shows are what fans will vote on, so an
  artist on tour stays fresh even before the votes come; capped so a long tour cannot buy the top.
- An artist with activity 0 is not active and is never selected.

:data:`STALE_AFTER` is the stale window: an artist synced less than 6 hours ago (the job's own
period, so a scheduled run never redoes the previous run's work) is skipped unless ``forceSync``.
"""

from __future__ import annotations

import datetime as dt

W_VOTES_RECENT = 3.0  # the extra weight of a vote of the last RECENT_WINDOW
W_VOTES = 1.0
W_FOLLOWS = 2.0
W_PAGE_VIEWS = 0.1
W_UPCOMING_SHOW = 5.0
MAX_UPCOMING_SHOWS = 10

RECENT_WINDOW = dt.timedelta(hours=24)
WINDOW = dt.timedelta(days=7)
STALE_AFTER = dt.timedelta(hours=6)


def activity_score(
    votes_24h: int, votes_7d: int, follows_7d: int, page_views_7d: int, upcoming_shows: int
) -> float:
    """The formula above. ``votes_7d`` includes ``votes_24h``; negative counts read as 0."""
    return (
        W_VOTES_RECENT * max(0, votes_24h)
        + W_VOTES * max(0, votes_7d)
        + W_FOLLOWS * max(0, follows_7d)
        + W_PAGE_VIEWS * max(0, page_views_7d)
        + W_UPCOMING_SHOW * min(max(0, upcoming_shows), MAX_UPCOMING_SHOWS)
    )


def is_stale(last_synced_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether an artist last synced at ``last_synced_at`` is due (never synced: due)."""
    return last_synced_at is None or now - last_synced_at >= STALE_AFTER
