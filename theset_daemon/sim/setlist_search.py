"""setlist.fm's ``GET /search/setlists`` over the simulated catalog: the query, the matching, and a
small cache of answers (the route itself, and the rendering, are in ``setlistfm.py``).

Served parameters (``SERVED``), combined with AND: ``artistMbid``; ``artistName`` (every word of it
in the artist's name, as ``search/artists`` matches); ``date`` (``dd-MM-yyyy``, the event's date);
``year`` (the event's year); ``lastUpdated`` (``yyyyMMddHHmmss``, UTC: setlists updated at or after
it, across all artists); and ``p``. Decisions where the sources leave room:

- order: the docs say nothing about a search's order; the simulator answers newest event date
  first, as an artist's own setlists come, then by artist and by place in the artist's list;
- a search without any filter is 400: the simulator does not list the world, and setlist.fm's
  answer there is unknown;
- the spec's other filters (``UNSERVED``: city, venue, tour...) are 400 naming the parameter:
  ignoring one would silently answer another question;
- a malformed ``date``, ``year`` or ``lastUpdated`` is 400 in setlist.fm's error shape; no match,
  or a page past the last, is 404 like every other setlist.fm search.

Cost: a ``lastUpdated`` at or after the catalog's day reads only the artists with played shows
added (every generated setlist was updated before it: ``setlists.generated_updates_end``). Any
other search reads each candidate artist's schedule (dates and update times, no songs), and only
the answered page's setlists are built. Answers are cached by query and catalog version, so paging
through a broad search reads the catalog once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from theset_daemon.sim.catalog import Catalog
from theset_daemon.sim.people import ArtistProfile
from theset_daemon.sim.setlists import generated_updates_end

SERVED = frozenset({"artistMbid", "artistName", "date", "year", "lastUpdated", "p"})
UNSERVED = frozenset(
    {
        "artistTmid",
        "cityId",
        "cityName",
        "countryCode",
        "lastFm",
        "state",
        "stateCode",
        "tourName",
        "venueId",
        "venueName",
    }
)
ANSWERS_CACHED = 8  # a few searches paged at once (a sync's feed, a test's checks)


class SetlistRef(NamedTuple):
    """One setlist of a search's answer: ``catalog.setlists(artist)[position]``."""

    date: dt.date
    artist: int
    position: int


def _parsed(params: Mapping[str, str], name: str, pattern: str, form: str) -> dt.datetime | None:
    raw = params.get(name, "")
    if not raw:
        return None
    try:
        if not re.fullmatch(pattern, raw):
            raise ValueError(raw)
        return dt.datetime.strptime(raw, form)
    except ValueError:
        raise ValueError(f"invalid value for parameter {name}: {raw}") from None


@dataclass(frozen=True, slots=True)
class SetlistQuery:
    mbid: str | None = None
    name: str | None = None
    date: dt.date | None = None
    year: int | None = None
    updated_since: dt.datetime | None = None  # UTC

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> SetlistQuery:
        """The query of a request's parameters; ValueError with setlist.fm's message when one
        is malformed, unserved, or when there is no filter at all. Empty values are absent."""
        for name in sorted(UNSERVED):
            if params.get(name):
                raise ValueError(f"parameter {name} is not supported by the simulator")
        date = _parsed(params, "date", r"\d\d-\d\d-\d{4}", "%d-%m-%Y")
        year = _parsed(params, "year", r"\d{4}", "%Y")
        since = _parsed(params, "lastUpdated", r"\d{14}", "%Y%m%d%H%M%S")
        query = cls(
            mbid=params.get("artistMbid") or None,
            name=params.get("artistName") or None,
            date=date.date() if date else None,
            year=year.year if year else None,
            updated_since=since.replace(tzinfo=dt.UTC) if since else None,
        )
        if query == cls():
            raise ValueError(
                "at least one of artistMbid, artistName, date, year or lastUpdated is required"
            )
        return query

    def admits(self, day: dt.date, updated: dt.datetime) -> bool:
        """Whether a setlist of ``day``, last updated at ``updated``, matches the date filters."""
        return (
            (self.date is None or day == self.date)
            and (self.year is None or day.year == self.year)
            and (self.updated_since is None or updated >= self.updated_since)
        )


def _artists(catalog: Catalog, query: SetlistQuery) -> list[int] | None:
    """The artists the query names, or None: every artist."""
    found: list[int] | None = None
    if query.mbid:
        who = catalog.by_mbid(query.mbid)
        found = [who.index] if isinstance(who, ArtistProfile) else []  # a guest has no setlists
    if query.name:
        named = catalog.search(query.name)
        found = named if found is None else sorted(set(found) & set(named))
    return found


def find_setlists(catalog: Catalog, query: SetlistQuery) -> list[SetlistRef]:
    """Every setlist the query matches, in the answer's order (see the module docstring)."""
    only_played = query.updated_since is not None and query.updated_since >= generated_updates_end(
        catalog.today
    )
    played = set(catalog.played_artists())
    artists: Iterable[int] | None = _artists(catalog, query)
    if artists is None:
        artists = sorted(played) if only_played else range(catalog.size)
    found: list[SetlistRef] = []
    for index in artists:
        if index in played:  # the setlists themselves: played shows are few
            for position, setlist in enumerate(catalog.setlists(index)):
                if query.admits(setlist.date, setlist.last_updated):
                    found.append(SetlistRef(setlist.date, index, position))
        elif not only_played:  # the schedule's order is the setlists' order
            schedule = catalog.setlist_schedule(index)
            pairs = zip(schedule.dates, schedule.updated, strict=True)
            for position, (day, updated) in enumerate(pairs):
                if query.admits(day, updated):
                    found.append(SetlistRef(day, index, position))
    found.sort(key=lambda ref: (-ref.date.toordinal(), ref.artist, ref.position))
    return found


class SetlistFinder:
    """:func:`find_setlists` with the last few answers kept, until the catalog changes."""

    def __init__(self, size: int = ANSWERS_CACHED) -> None:
        self._size = size
        self._answers: OrderedDict[tuple[SetlistQuery, int], Sequence[SetlistRef]] = OrderedDict()

    def find(self, catalog: Catalog, query: SetlistQuery) -> Sequence[SetlistRef]:
        key = (query, catalog.version)
        if key in self._answers:
            self._answers.move_to_end(key)
            return self._answers[key]
        answer = tuple(find_setlists(catalog, query))
        self._answers[key] = answer
        if len(self._answers) > self._size:
            self._answers.popitem(last=False)
        return answer
