"""The trending score of an artist: recent fan activity first, upstream popularity as a floor.

One formula for everything that ranks artists by "what is hot" (the hourly calculate-trending job,
the active-artist selection), so the two never disagree. Its weights are module constants so the
tests and the README quote the same numbers.
"""

from __future__ import annotations

# A vote today counts W_VOTES_24H + W_VOTES_7D = 4, a vote earlier this week 1: the 24-hour count
# is part of the 7-day count, so the 24-hour weight is the extra a fresh vote earns (the decay).
W_VOTES_24H = 3.0
W_VOTES_7D = 1.0
W_FOLLOWS_7D = 2.0  # a follow is a stronger, rarer signal than a vote
W_PAGE_VIEWS_7D = 0.1  # views are cheap and noisy: ten views weigh one vote
W_UPCOMING_SHOW = 5.0  # something to vote on soon; capped so a long tour cannot buy the top
MAX_UPCOMING_SHOWS = 10
W_POPULARITY = 0.5  # Spotify's 0-100, so at most 50: ranks quiet artists, never outranks fans


def trending_score(
    votes_24h: int,
    votes_7d: int,
    follows_7d: int,
    page_views_7d: int,
    upcoming_shows: int,
    popularity: int | None,
) -> float:
    """``3 * votes_24h + 1 * votes_7d + 2 * follows_7d + 0.1 * page_views_7d
    + 5 * min(upcoming_shows, 10) + 0.5 * popularity``.

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
