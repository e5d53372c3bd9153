"""Which copy of a song the catalog keeps when several releases carry it.

The kept row is what the song page links to (album art, preview, popularity), so it should be the
version fans know: the most popular one when Spotify tells us popularity, otherwise the studio
original. See :func:`choose_canonical` for the exact order.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from theset_daemon.catalog.releases import release_date
from theset_daemon.catalog.text import fold
from theset_daemon.catalog.titles import is_live

# Release types in order of preference: the album is where a song "lives".
_ALBUM_TYPE_RANK = {"album": 0, "single": 1, "compilation": 2}
_REMASTER = re.compile(r"\bremaster(?:ed|s)?\b")
_DELUXE = re.compile(
    r"\b(?:deluxe|expanded|edition|bonus|anniversary|reissue|reissued|special|super)\b"
)
_EDIT = re.compile(r"\b(?:edit|clean|censored)\b")


@dataclass(frozen=True, slots=True)
class TrackCandidate:
    """One copy of a song, as far as the dedup choice needs to know it.

    ``release_date`` is a date, or Spotify's text with year, month or day precision ("1999",
    "1999-06", "1999-06-01"), or None when unknown. ``popularity`` is None when the API mode does
    not report it (Spotify's development mode).
    """

    track_id: str
    title: str
    album_type: str | None = None
    album_name: str | None = None
    release_date: dt.date | str | None = None
    popularity: int | None = None
    explicit: bool = False

    @property
    def is_live(self) -> bool:
        return is_live(self.title, self.album_name, self.album_type)

    @property
    def is_remaster(self) -> bool:
        """Remastered, by its title ("- 2011 Remaster") or its release ("(Remastered 2011)")."""
        return any(_REMASTER.search(fold(text)) for text in self._texts())

    @property
    def is_deluxe(self) -> bool:
        """On a deluxe, expanded or anniversary edition of an album."""
        return self.album_name is not None and _DELUXE.search(fold(self.album_name)) is not None

    @property
    def is_edit(self) -> bool:
        """A radio, single or clean edit, by its title ("- Radio Edit", "(Clean)")."""
        return _EDIT.search(fold(self.title)) is not None

    @property
    def is_variant(self) -> bool:
        """Another master or cut of the song than the original: a remaster or an edit."""
        return self.is_remaster or self.is_edit

    def _texts(self) -> tuple[str, ...]:
        return (self.title,) if self.album_name is None else (self.title, self.album_name)


def choose_canonical(candidates: Sequence[TrackCandidate]) -> TrackCandidate:
    """The copy to keep among the duplicates of one song (one of ``candidates``, itself).

    The order, first difference wins:

    1. not live: a live recording never stands for a studio song (:func:`song_key` never groups
       them, this is the guard should a caller do so);
    2. known popularity, highest first; a copy whose popularity is unknown ranks after every
       copy whose popularity is known, since "most popular" is only a fact when reported;
    3. the studio original: not a remaster or an edit (a different master or cut); then album
       over single over compilation (over anything else); then not a deluxe-edition copy; then
       the earliest release (an unknown date last; a year-only date counts as the year's first
       day);
    4. explicit over clean. Last, because it is a content choice rather than a version one: the
       explicit cut is the one the artist recorded, the clean cut an edit made from it; but when
       the clean copy is the more popular or the original release, the rules above already chose
       it;
    5. the smallest track id, so the choice never depends on the order the API listed them in.

    The remaster/edit test comes before the release type: the original lead single is the
    studio original, a remastered album is not. The deluxe test comes after it: a deluxe copy is
    the same cut as the album's, and a bonus track first released on the deluxe edition has its
    original there, not on a later compilation.
    """
    if not candidates:
        raise ValueError("choose_canonical needs at least one candidate")
    return min(candidates, key=_preference)


def _preference(
    candidate: TrackCandidate,
) -> tuple[bool, bool, int, bool, int, bool, tuple[bool, dt.date], bool, str]:
    popularity = candidate.popularity
    return (
        candidate.is_live,
        popularity is None,
        -(popularity or 0),
        candidate.is_variant,
        _ALBUM_TYPE_RANK.get((candidate.album_type or "").casefold(), len(_ALBUM_TYPE_RANK)),
        candidate.is_deluxe,
        _release_key(candidate.release_date),
        not candidate.explicit,
        candidate.track_id,
    )


def _release_key(value: dt.date | str | None) -> tuple[bool, dt.date]:
    """Sorts known dates oldest first and unknown ones last."""
    day = value if isinstance(value, dt.date) else release_date(value)
    return (day is None, day or dt.date.min)
