"""setlist.fm's past setlists: generated ones, and those of played shows the control API adds.

Generated setlists are behind the catalog's ``today`` (UTC, fixed when the catalog is built), newest
first (setlist.fm's order). Every one of them was last updated before that day began
(:func:`generated_updates_end`), and a played show's setlist (``shows.plan_played``) was last
updated when it was added, so a search by ``lastUpdated`` from the catalog's day on finds exactly
the played shows added since, as a sync that polls for changes expects.

:func:`setlist_schedule` gives the dates and update times alone, cheaply: a search across the
whole catalog reads those and builds only the setlists it answers with.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from theset_daemon.sim import words
from theset_daemon.sim.ids import IdCodec
from theset_daemon.sim.names import SongBook, slug
from theset_daemon.sim.people import GUESTS_PER_ARTIST, ArtistProfile, Guest, make_guest, seeded
from theset_daemon.sim.shows import Played


@dataclass(frozen=True, slots=True)
class SetSong:
    name: str
    tape: bool = False
    info: str | None = None
    cover: Guest | None = None
    with_: Guest | None = None


@dataclass(frozen=True, slots=True)
class SetPart:
    name: str | None
    encore: int | None
    songs: tuple[SetSong, ...]


@dataclass(frozen=True, slots=True)
class SetlistVenue:
    id: str
    name: str
    city: words.City


@dataclass(frozen=True, slots=True)
class Setlist:
    id: str
    version_id: str
    date: dt.date
    last_updated: dt.datetime
    venue: SetlistVenue
    tour: str | None
    info: str | None
    sets: tuple[SetPart, ...]


_INFOS = (
    "Show started 40 minutes late due to a storm.",
    "Last show of the tour.",
    "Hometown show.",
    "Festival set.",
)


@dataclass(frozen=True, slots=True)
class SetlistSchedule:
    """When an artist's generated setlists were played and last updated, newest first: all a
    search by date or ``lastUpdated`` needs, for a fraction of the cost of the setlists."""

    tour: str
    dates: tuple[dt.date, ...]
    updated: tuple[dt.datetime, ...]  # UTC, all before generated_updates_end(today)


def generated_updates_end(today: dt.date) -> dt.datetime:
    """Every generated setlist was last updated before this: the start of the catalog's day."""
    return dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC)


def setlist_schedule(seed: int, profile: ArtistProfile, today: dt.date) -> SetlistSchedule:
    rng = seeded(seed, "setlistfm", profile.index)
    if profile.index % 11 == 10:
        return SetlistSchedule("", (), ())
    low, high = {"big": (45, 70), "normal": (0, 30), "small": (0, 5)}[profile.tier]
    count = rng.randint(low, high)
    tour = f"{rng.choice(words.TOUR_WORDS)} Tour"
    dates = []
    day = today - dt.timedelta(days=rng.randint(1, 5))
    for _ in range(count):
        day -= dt.timedelta(days=rng.randint(2, 40))
        dates.append(day)
    updated = []
    last_day = today - dt.timedelta(days=1)  # edits stop before the catalog's day begins
    for day in dates:
        edited = min(last_day, day + dt.timedelta(days=rng.randint(1, 12)))
        moment = dt.datetime.combine(edited, dt.time(), tzinfo=dt.UTC)
        moment += dt.timedelta(seconds=rng.randrange(86_400), milliseconds=rng.randrange(1000))
        updated.append(moment)
    return SetlistSchedule(tour, tuple(dates), tuple(updated))


def _repertoire(seed: int, profile: ArtistProfile) -> list[str]:
    book = SongBook(seeded(seed, "songs", profile.index))  # the artist's own songs, in order
    return [book.next() for _ in range(30)]


def make_setlists(seed: int, profile: ArtistProfile, ids: IdCodec, today: dt.date) -> list[Setlist]:
    """Past setlists, newest first (setlist.fm's order)."""
    schedule = setlist_schedule(seed, profile, today)
    if not schedule.dates:
        return []
    repertoire = _repertoire(seed, profile)
    return [
        _setlist(seed, profile, ids, number, day, updated, schedule.tour, repertoire)
        for number, (day, updated) in enumerate(zip(schedule.dates, schedule.updated, strict=True))
    ]


def played_setlist(
    seed: int, profile: ArtistProfile, ids: IdCodec, played: Played, tour: str
) -> Setlist:
    """The setlist of a played show: at its Ticketmaster venue (setlist.fm's venue id is made
    from the city and the name, as for every setlist), never empty, updated when added."""
    r = seeded(seed, "played-setlist", profile.index, played.show.number)
    venue = played.venue
    return Setlist(
        id=played_setlist_id(ids, profile.index, played.show.number),
        version_id=ids.hex_id("played-setlist-version", profile.index, played.show.number),
        date=played.start.date(),
        last_updated=played.show.added_at,
        venue=SetlistVenue(ids.hex_id("fm-venue", venue.city.name, venue.name), venue.name,
                           venue.city),
        tour=tour,
        info=None,
        sets=_sets(seed, profile, ids, r, _repertoire(seed, profile), may_be_empty=False),
    )  # fmt: skip


def played_setlist_id(ids: IdCodec, artist: int, number: int) -> str:
    return ids.hex_id("played-setlist", artist, number)


def _setlist(
    seed: int,
    profile: ArtistProfile,
    ids: IdCodec,
    number: int,
    day: dt.date,
    updated: dt.datetime,
    tour: str,
    repertoire: list[str],
) -> Setlist:
    r = seeded(seed, "setlist", profile.index, number)
    city = words.CITIES[r.randrange(len(words.CITIES))]
    venue_name = f"{r.choice(words.VENUE_WORDS)} {r.choice(words.VENUE_TYPES)}"
    venue = SetlistVenue(ids.hex_id("fm-venue", city.name, venue_name), venue_name, city)
    sets = _sets(seed, profile, ids, r, repertoire, may_be_empty=True)
    return Setlist(
        id=ids.hex_id("setlist", profile.index, number),
        version_id=ids.hex_id("setlist-version", profile.index, number),
        date=day,
        last_updated=updated,
        venue=venue,
        tour=tour if r.random() < 0.75 else None,
        info=r.choice(_INFOS) if r.random() < 0.15 else None,
        sets=sets,
    )


def _sets(
    seed: int,
    profile: ArtistProfile,
    ids: IdCodec,
    r: random.Random,
    repertoire: list[str],
    *,
    may_be_empty: bool,
) -> tuple[SetPart, ...]:
    def song(name: str) -> SetSong:
        roll = r.random()
        if roll < 0.05:
            guest = make_guest(seed, profile.index, r.randrange(GUESTS_PER_ARTIST), ids)
            return SetSong(name, with_=guest, info=f"with {guest.name}")
        if roll < 0.1:
            return SetSong(name, info=r.choice(("acoustic", "extended outro", "first time live")))
        return SetSong(name)

    shape = r.random()
    if shape < 0.08 and may_be_empty:
        return ()  # "sets": {"set": []}: nobody has entered the songs yet
    if shape < 0.16:
        songs = tuple(song(name) for name in r.sample(repertoire, 5))
        return (SetPart("Acoustic set", None, songs),)
    picks = r.sample(repertoire, r.randint(10, 20))
    main_count = max(6, len(picks) - r.randint(1, 3))
    main = [song(name) for name in picks[:main_count]]
    if r.random() < 0.3:
        main.insert(0, SetSong("Intro", tape=True))
    if r.random() < 0.2:
        cover = make_guest(seed, profile.index, r.randrange(GUESTS_PER_ARTIST), ids)
        main.insert(r.randrange(1, len(main)), SetSong(SongBook(r).next(), cover=cover))
    parts = [SetPart(None, None, tuple(main))]
    encore = tuple(song(name) for name in picks[main_count:])
    if encore:
        parts.append(SetPart(None, 1, encore))
        if r.random() < 0.25:
            parts.append(SetPart(None, 2, (SetSong(f"{picks[0]} (Reprise)"),)))
    return tuple(parts)


def setlist_url(profile: ArtistProfile, setlist: Setlist) -> str:
    venue = setlist.venue
    place = f"{slug(venue.name)}-{slug(venue.city.name)}-{venue.city.country_code.lower()}"
    return (
        f"https://www.setlist.fm/setlist/{profile.slug}/{setlist.date:%Y}/{place}-{setlist.id}.html"
    )
