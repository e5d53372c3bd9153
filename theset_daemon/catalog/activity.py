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

**What is due** (to a scheduled ``update-active-artists`` run; a triggered one takes its ``limit``
due or not). An artist's refresh has two kinds, each with its own fetched-at: its releases and
profile (Spotify: ``last_synced_at``) and its shows (Ticketmaster: ``shows_synced_at``). It was
refreshed when the older of the two was fetched (:func:`refreshed_at`; either never: never), and
it is due once that is :data:`STALE_AFTER` (6 h) old less :data:`DUE_TOLERANCE` (1 h), so at
least 5 h old at the run's start (:func:`is_due`).

Why the tolerance: the stale window is the job's own period (``0 */6 * * *``), and a run stamps
its artists as it goes, seconds to minutes after its fire time. Six hours later the next fire
finds those stamps a little under 6 h old: with the bare window every artist the previous run
synced would look fresh and be skipped, and synced by the run after that (50, 0, 50, 0). With the
tolerance, what the previous scheduled run synced is due on the next one as long as it stamped
them within an hour of its fire time (a fire starts moments after its time, and ``limit``
artists take minutes). An artist refreshed less than 5 h before (by a triggered run, an
import, the weekly catalog sync) waits for the following fire. The rule reads the artist's own
stamps only, never the run history, so a catch-up, a changed schedule or a triggered run in
between cannot shift it; its one cost is that what a run stamps more than an hour after its fire
waits one period more.
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
# Longer than a scheduled run's lateness plus its length (see "What is due" above).
DUE_TOLERANCE = dt.timedelta(hours=1)


def activity_score(
    votes_24h: int, votes_7d: int, follows_7d: int, page_views_7d: int, upcoming_shows: int
) -> float:
    """The formula above. ``votes_7d`` includes ``votes_24h``; negative counts read as 0."""
    # An unknown popularity counts 0 in the trending score: what is left is the activity.
    return trending.trending_score(
        votes_24h, votes_7d, follows_7d, page_views_7d, upcoming_shows, popularity=None
    )


def refreshed_at(
    last_synced_at: dt.datetime | None, shows_synced_at: dt.datetime | None
) -> dt.datetime | None:
    """When the artist was last refreshed as a whole: the older of its two fetched-ats (releases
    and profile, shows); None when either kind was never fetched."""
    if last_synced_at is None or shows_synced_at is None:
        return None
    return min(last_synced_at, shows_synced_at)


def due_before(now: dt.datetime) -> dt.datetime:
    """The latest refresh that is due at ``now``: :data:`STALE_AFTER` less :data:`DUE_TOLERANCE`
    ago (the SQL of ``db/sync.py`` takes it as a parameter, so both sides draw the same line)."""
    return now - (STALE_AFTER - DUE_TOLERANCE)


def is_due(refreshed: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether an artist refreshed at ``refreshed`` (:func:`refreshed_at`) is due at ``now``
    (never refreshed: due)."""
    return refreshed is None or refreshed <= due_before(now)
