"""Live music: Ticketmaster venues and upcoming events, setlist.fm past setlists.

Dates are relative to the catalog's ``today`` (UTC, fixed when the catalog is built), so upcoming
shows are always ahead and setlists always behind, whatever day the simulator runs.

Events: the artist is always the first attraction of its own events; some events carry support
acts after it (guests, never catalog artists, so an artist's shows are exactly the events listed
under its attraction id). Some are cancelled, postponed (no date yet) or rescheduled.
``upcoming_shows`` counts all of them, whatever their status.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Literal

from theset_daemon.sim import words
from theset_daemon.sim.ids import IdCodec, Kind
from theset_daemon.sim.names import SongBook, slug
from theset_daemon.sim.people import (
    GUESTS_PER_ARTIST,
    ArtistProfile,
    Guest,
    make_guest,
    seeded,
)

VENUE_POOL = 400  # venues every artist's shows are drawn from
EventStatus = Literal["onsale", "offsale", "canceled", "postponed", "rescheduled"]


@dataclass(frozen=True, slots=True)
class Venue:
    index: int
    ticketmaster_id: str
    name: str
    city: words.City
    address: str
    postal_code: str
    latitude: str  # Ticketmaster sends coordinates as strings
    longitude: str
    url_number: str
    upcoming_total: int
    has_state: bool


@dataclass(frozen=True, slots=True)
class Event:
    local: int
    ticketmaster_id: str
    name: str
    status: EventStatus
    start: dt.datetime | None  # local wall time at the venue; None when postponed (TBA)
    initial_start: dt.datetime | None  # the original date of a postponed event
    venue: Venue
    supports: tuple[Guest, ...]
    sale_start: dt.datetime  # UTC
    price_range: tuple[float, float] | None
    promoter: tuple[str, str]
    url_key: str

    @property
    def sort_start(self) -> dt.datetime:
        """UTC start, postponed events last (Ticketmaster lists TBA dates after dated ones)."""
        return utc(self.start, self.venue) if self.start else dt.datetime.max.replace(tzinfo=dt.UTC)


def utc(local: dt.datetime, venue: Venue) -> dt.datetime:
    return local.replace(tzinfo=zoneinfo.ZoneInfo(venue.city.timezone)).astimezone(dt.UTC)


def make_venue(seed: int, index: int, ids: IdCodec) -> Venue:
    rng = seeded(seed, "venue", index)
    city = words.CITIES[rng.randrange(len(words.CITIES))]
    return Venue(
        index=index,
        ticketmaster_id=ids.ticketmaster(Kind.VENUE, index),
        name=f"{rng.choice(words.VENUE_WORDS)} {rng.choice(words.VENUE_TYPES)}",
        city=city,
        address=f"{rng.randint(10, 4999)} {rng.choice(words.STREETS)}",
        postal_code=f"{city.postal}{rng.randint(0, 99):02d}",
        latitude=f"{city.latitude + rng.uniform(-0.04, 0.04):.5f}",
        longitude=f"{city.longitude + rng.uniform(-0.04, 0.04):.5f}",
        url_number=ids.digits("venue-url", index, length=6),
        upcoming_total=rng.randint(5, 120),
        has_state=city.state is not None,
    )


def make_events(
    seed: int,
    profile: ArtistProfile,
    ids: IdCodec,
    today: dt.date,
    *,
    added: tuple[dt.date, ...] = (),
) -> list[Event]:
    """The artist's upcoming events: generated ones, then any added through the control API
    (``added`` holds the day each was added)."""
    rng = seeded(seed, "ticketmaster", profile.index)
    if profile.index % 9 == 8:
        count = 0
    else:
        low, high = {"big": (25, 40), "normal": (1, 12), "small": (0, 3)}[profile.tier]
        count = rng.randint(low, high)
    tour = f"{rng.choice(words.TOUR_WORDS)} Tour {today.year + 1}"
    events = [_event(seed, profile, ids, today, local, tour) for local in range(count)]
    for number, day in enumerate(added):
        events.append(_event(seed, profile, ids, day, count + number, tour, fresh=True))
    return events


def _event(
    seed: int,
    profile: ArtistProfile,
    ids: IdCodec,
    today: dt.date,
    local: int,
    tour: str,
    *,
    fresh: bool = False,
) -> Event:
    rng = seeded(seed, "event", profile.index, local, fresh)
    venue = make_venue(seed, rng.randrange(VENUE_POOL), ids)
    day = today + dt.timedelta(days=rng.randint(3, 420))
    hour, minute = rng.choice(((19, 0), (19, 30), (20, 0), (21, 0)))
    start: dt.datetime | None = dt.datetime.combine(day, dt.time(hour, minute))
    roll = rng.random()
    status: EventStatus = "onsale"
    initial: dt.datetime | None = None
    if not fresh and roll < 0.05:
        status = "canceled"
    elif not fresh and roll < 0.10:
        status, initial, start = "postponed", start, None
    elif not fresh and roll < 0.15:
        status = "rescheduled"
    elif not fresh and roll < 0.20:
        status = "offsale"
    supports: tuple[Guest, ...] = ()
    if rng.random() < 0.3:
        numbers = rng.sample(range(GUESTS_PER_ARTIST), rng.randint(1, 2))
        supports = tuple(make_guest(seed, profile.index, number, ids) for number in numbers)
    form = rng.random()
    if supports and form < 0.3:
        name = f"{profile.name} with {supports[0].name}"
    elif form < 0.7:
        name = f"{profile.name}: {tour}"
    elif form < 0.9:
        name = profile.name
    else:
        name = f"An Evening with {profile.name}"
    price = (
        None if rng.random() < 0.4 else (float(rng.randint(25, 60)), float(rng.randint(65, 180)))
    )
    sale_start = dt.datetime.combine(today - dt.timedelta(days=rng.randint(1, 60)), dt.time(17))
    return Event(
        local=local,
        ticketmaster_id=ids.ticketmaster(Kind.EVENT, profile.index, local),
        name=name,
        status=status,
        start=start,
        initial_start=initial,
        venue=venue,
        supports=supports,
        sale_start=sale_start.replace(tzinfo=dt.UTC),
        price_range=price,
        promoter=rng.choice(words.PROMOTERS),
        url_key=ids.hex_id("event-url", profile.index, local, fresh, length=16).upper(),
    )


# --- setlist.fm -------------------------------------------------------------------------------


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


def make_setlists(seed: int, profile: ArtistProfile, ids: IdCodec, today: dt.date) -> list[Setlist]:
    """Past setlists, newest first (setlist.fm's order)."""
    rng = seeded(seed, "setlistfm", profile.index)
    if profile.index % 11 == 10:
        return []
    low, high = {"big": (45, 70), "normal": (0, 30), "small": (0, 5)}[profile.tier]
    count = rng.randint(low, high)
    book = SongBook(seeded(seed, "songs", profile.index))  # the artist's own songs, in order
    repertoire = [book.next() for _ in range(30)]
    tour = f"{rng.choice(words.TOUR_WORDS)} Tour"
    setlists = []
    day = today - dt.timedelta(days=rng.randint(1, 5))
    for number in range(count):
        day -= dt.timedelta(days=rng.randint(2, 40))
        setlists.append(_setlist(seed, profile, ids, number, day, today, tour, repertoire))
    return setlists


def _setlist(
    seed: int,
    profile: ArtistProfile,
    ids: IdCodec,
    number: int,
    day: dt.date,
    today: dt.date,
    tour: str,
    repertoire: list[str],
) -> Setlist:
    r = seeded(seed, "setlist", profile.index, number)
    city = words.CITIES[r.randrange(len(words.CITIES))]
    venue_name = f"{r.choice(words.VENUE_WORDS)} {r.choice(words.VENUE_TYPES)}"
    venue = SetlistVenue(ids.hex_id("fm-venue", city.name, venue_name), venue_name, city)

    def song(name: str) -> SetSong:
        roll = r.random()
        if roll < 0.05:
            guest = make_guest(seed, profile.index, r.randrange(GUESTS_PER_ARTIST), ids)
            return SetSong(name, with_=guest, info=f"with {guest.name}")
        if roll < 0.1:
            return SetSong(name, info=r.choice(("acoustic", "extended outro", "first time live")))
        return SetSong(name)

    shape = r.random()
    sets: tuple[SetPart, ...]
    if shape < 0.08:
        sets = ()  # "sets": {"set": []}: nobody has entered the songs yet
    elif shape < 0.16:
        songs = tuple(song(name) for name in r.sample(repertoire, 5))
        sets = (SetPart("Acoustic set", None, songs),)
    else:
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
        sets = tuple(parts)
    updated = dt.datetime.combine(min(today, day + dt.timedelta(days=r.randint(1, 12))), dt.time())
    updated += dt.timedelta(seconds=r.randrange(86_400), milliseconds=r.randrange(1000))
    return Setlist(
        id=ids.hex_id("setlist", profile.index, number),
        version_id=ids.hex_id("setlist-version", profile.index, number),
        date=day,
        last_updated=updated.replace(tzinfo=dt.UTC),
        venue=venue,
        tour=tour if r.random() < 0.75 else None,
        info=r.choice(_INFOS) if r.random() < 0.15 else None,
        sets=sets,
    )


def setlist_url(profile: ArtistProfile, setlist: Setlist) -> str:
    venue = setlist.venue
    place = f"{slug(venue.name)}-{slug(venue.city.name)}-{venue.city.country_code.lower()}"
    return (
        f"https://www.setlist.fm/setlist/{profile.slug}/{setlist.date:%Y}/{place}-{setlist.id}.html"
    )
