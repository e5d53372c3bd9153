"""The trending score of an artist or a show: recent fan activity first, popularity as a floor.

**One formula** ranks everything that is "hot" (the hourly ``calculate-trending`` job writes it to
``artists.trending_score`` and ``shows.trending_score``; the read routes and the active-artist
selection sort by it), so no two parts of the daemon disagree::

    score = 4   * sum(d(age) for each vote)
          + 2   * sum(d(age) for each follow)
          + 0.1 * sum(d(age) for each page view)
          + 5   * min(upcoming_shows, 10)
          + 0.5 * popularity                       (0-100; unknown counts as 0)

    d(age) = 0.5 ** (age / 48 h)   for 0 <= age <= 30 days, else 0

- **Decay.** Every event loses half its weight every :data:`HALF_LIFE_S` (48 hours): a vote cast
  just now counts 4, one from four days ago 1, one from a week ago 0.35. Events older than
  :data:`HORIZON_S` (30 days, 15 half-lives: a weight under 0.00004) count 0, so the SQL reads a
  bounded, indexed range instead of the whole history. An event dated in the future (clock skew)
  counts as fresh, never more.
- **Weights** (at age 0): a follow is a stronger, rarer signal than a vote but a vote is cast
  often, so a fresh vote counts 4 and a fresh follow 2; views are cheap and noisy, ten of them
  weigh a quarter of a vote.
- **Upcoming shows** give something to vote on soon; capped so a long tour cannot buy the top.
- **Popularity** (Spotify's 0-100, so at most 50) ranks quiet artists among themselves and never
  outranks real fans.

What feeds each term (``db/maintenance.py`` computes it in one set-based statement per table):

===========  =================================  ==========================================
term         artist                             show
===========  =================================  ==========================================
votes        votes on the shows it headlines    votes on the show
follows      follows of the artist              follows of the headliner
page views   views of the artist page           views of the show page
upcoming     its upcoming shows (capped at 10)  1 while the show is upcoming, else 0
popularity   the artist's                       the headliner's
===========  =================================  ==========================================

:func:`trending_score` is the same formula over window counts, for callers that hold counts rather
than event times: the decay becomes a step (a vote of the last 24 h counts 4, an older one of the
last 7 days 1; a follow or a view of the last 7 days 2 and 0.1).
"""

from __future__ import annotations

from collections.abc import Iterable

HALF_LIFE_S = 48 * 3600.0  # an event's weight halves every two days
HORIZON_S = 30 * 86400.0  # older events count 0 (15 half-lives: weight < 4e-5)

# A vote today counts W_VOTES_24H + W_VOTES_7D = 4, a vote earlier this week 1: the 24-hour count
# is part of the 7-day count, so the 24-hour weight is the extra a fresh vote earns (the decay).
W_VOTES_24H = 3.0
W_VOTES_7D = 1.0
W_VOTE = W_VOTES_24H + W_VOTES_7D  # a fresh vote, in the decayed form
W_FOLLOWS_7D = 2.0  # a follow is a stronger, rarer signal than a vote
W_FOLLOW = W_FOLLOWS_7D
W_PAGE_VIEWS_7D = 0.1  # views are cheap and noisy: ten views weigh a quarter of a fresh vote
W_PAGE_VIEW = W_PAGE_VIEWS_7D
W_UPCOMING_SHOW = 5.0  # something to vote on soon; capped so a long tour cannot buy the top
MAX_UPCOMING_SHOWS = 10
W_POPULARITY = 0.5  # Spotify's 0-100, so at most 50: ranks quiet artists, never outranks fans


def decay_weight(age_s: float) -> float:
    """``0.5 ** (age_s / HALF_LIFE_S)``; 1 for a future event, 0 past :data:`HORIZON_S`."""
    if age_s > HORIZON_S:
        return 0.0
    return float(0.5 ** (max(0.0, age_s) / HALF_LIFE_S))


def decayed_score(
    vote_ages_s: Iterable[float],
    follow_ages_s: Iterable[float],
    page_view_ages_s: Iterable[float],
    upcoming_shows: int,
    popularity: int | None,
) -> float:
    """The trending score from the age (seconds before now) of each vote, follow and page view.

    This is the module's formula term by term; the SQL of ``calculate-trending`` computes the same
    sums in the database, and the tests hold the two to each other.
    """
    return (
        W_VOTE * sum(map(decay_weight, vote_ages_s))
        + W_FOLLOW * sum(map(decay_weight, follow_ages_s))
        + W_PAGE_VIEW * sum(map(decay_weight, page_view_ages_s))
        + W_UPCOMING_SHOW * min(max(0, upcoming_shows), MAX_UPCOMING_SHOWS)
        + W_POPULARITY * min(max(0, popularity or 0), 100)
    )


def trending_score(
    votes_24h: int,
    votes_7d: int,
    follows_7d: int,
    page_views_7d: int,
    upcoming_shows: int,
    popularity: int | None,
) -> float:
    """The formula over window counts (a step decay): ``3 * votes_24h + 1 * votes_7d
    + 2 * follows_7d + 0.1 * page_views_7d + 5 * min(upcoming_shows, 10) + 0.5 * popularity``.

    ``votes_7d`` includes ``votes_24h``. Negative counts are read as 0 and an unknown popularity
    (Spotify's development mode) as 0, so the score is never negative.
    """
    return (
        W_VOTES_24H * max(0, votes_24h)
        + W_VOTES_7D * max(0, votes_7d)
        + W_FOLLOWS_7D * max(0, follows_7d)
        + W_PAGE_VIEWS_7D * max(0, page_views_7d)
        + W_UPCOMING_SHOW * min(max(0, upcoming_shows), MAX_UPCOMING_SHOWS)
        + W_POPULARITY * min(max(0, popularity or 0), 100)
    )
