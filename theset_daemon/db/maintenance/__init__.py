"""Catalog maintenance in SQL: trending scores, the duplicate-song merge, orphan removal, counter
recounts, retention and the integrity checks.

Every write is one set-based statement over the rows concerned (never a loop of per-row updates),
and every one is safe to run again: a second run finds nothing left to do. The functions take a
connection; the caller owns the transaction (``calculate-trending`` and ``complete-catalog-sync``
open one per step, so a step either lands whole or not at all).

The jobs use these names through the package (``maintenance.merge_duplicate_songs``); the modules
behind it are ``trending_scores``, ``song_merge``, ``cleanup`` (orphans, recounts, retention) and
``integrity``.
"""

from theset_daemon.db.maintenance.cleanup import (
    ORPHAN_GRACE_S,
    OrphanCounts,
    cleanup_old_data,
    recount_artist_totals,
    remove_orphans,
)
from theset_daemon.db.maintenance.integrity import INTEGRITY_CHECKS, integrity_checks
from theset_daemon.db.maintenance.song_merge import (
    MERGE_GROUPS_PER_BATCH,
    MergeCounts,
    choose_merges,
    duplicate_groups,
    merge_duplicate_songs,
    merge_songs,
)
from theset_daemon.db.maintenance.trending_scores import (
    TRENDING_VIEWS,
    Scored,
    refresh_trending_views,
    score_artists,
    score_shows,
)

__all__ = [
    "INTEGRITY_CHECKS",
    "MERGE_GROUPS_PER_BATCH",
    "ORPHAN_GRACE_S",
    "TRENDING_VIEWS",
    "MergeCounts",
    "OrphanCounts",
    "Scored",
    "choose_merges",
    "cleanup_old_data",
    "duplicate_groups",
    "integrity_checks",
    "merge_duplicate_songs",
    "merge_songs",
    "recount_artist_totals",
    "refresh_trending_views",
    "remove_orphans",
    "score_artists",
    "score_shows",
]
