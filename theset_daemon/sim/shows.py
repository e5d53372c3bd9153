"""Live music on Ticketmaster: venues, upcoming events, and the played shows the control API adds.

Dates are relative to the catalog's ``today`` (UTC, fixed when the catalog is built), so upcoming
shows are always ahead, whatever day the simulator runs. setlist.fm's setlists are in
``setlists.py``.

Events: the artist is always the first attraction of its own events; some events carry support
acts after it (guests, never catalog artists, so an artist's shows are exactly the events listed
under its attraction id). Some are cancelled, postponed (no date yet) or rescheduled.
``upcoming_shows`` counts all of them, whatever their status, except the played shows below.

Played shows (``POST /_sim/catalog`` ``newSetlists``) are one fact, two records: a setlist.fm
setlist and a past Ticketmaster event of the artist, at the same venue on the same day, one to
three days before they were added, so a sync sees "a show was played" on both providers;
:func:`plan_played` decides where and when, for both.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, TypeAlias

from theset_daemon.sim import words
from theset_daemon.sim.ids import IdCodec, Kind
from theset_daemon.sim.people import GUESTS_PER_ARTIST, ArtistProfile, Guest, make_guest, seeded

VENUE_POOL = 400  # venues every artist's shows are drawn from
# Ticketmaster's spelling (README B and the Discovery spec's enum): one "l".
EventStatus = Literal["onsale", "offsale", "canceled", "postponed", "rescheduled"]
PLAYED_DAYS_AGO = (1, 3)  # a played show added through the control API: days before it was added
SHOW_TIMES = ((19, 0), (19, 30), (20, 0), (21, 0))


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


@dataclass(frozen=True, slots=True)
class PlayedShow:
    """The fact behind a played show (``newSetlists``): the artist's ``number``-th, added at
    ``added_at`` (UTC). Everything else about it is derived (:func:`plan_played`)."""

    number: int
    added_at: dt.datetime


#: What the control API added to an artist's events, in order: an upcoming show (the day it was
#: added) or a played show. One list, so an event's position (its id) never moves.
AddedEvent: TypeAlias = dt.date | PlayedShow


@dataclass(frozen=True, slots=True)
class Played:
    show: PlayedShow
    start: dt.datetime  # local wall time at the venue
    venue: Venue


def utc(local: dt.datetime, venue: Venue) -> dt.datetime:
    return local.replace(tzinfo=zoneinfo.ZoneInfo(venue.city.timezone)).astimezone(dt.UTC)


def plan_played(
    seed: int, profile: ArtistProfile, ids: IdCodec, show: PlayedShow, venues: Sequence[Venue]
) -> Played:
    """Where and when a played show was: an evening one to three days before the day it was
    added, that day being the earlier of its UTC and its local date at the venue (so the show is
    over when added, and its date is past for UTC and local readers alike); at one of the
    artist's venues (``venues``: those of its generated events), then at venues of the pool.
    Shows take the days in turn and each day's venues in turn, so two played shows of an artist
    share a venue on one day only past ``3 * VENUE_POOL`` of them: a sync that keys a show on
    its venue and date sees every one."""
    span = PLAYED_DAYS_AGO[1] - PLAYED_DAYS_AGO[0] + 1
    slot = show.number // span
    own = list(dict.fromkeys(venue.index for venue in venues))
    if slot < len(own):
        venue_index = own[slot]
    else:
        taken = set(own)
        others = [i for i in range(VENUE_POOL) if i not in taken]
        seeded(seed, "played-venues", profile.index).shuffle(others)
        venue_index = others[(slot - len(own)) % len(others)]
    venue = make_venue(seed, venue_index, ids)
    local_now = show.added_at.astimezone(zoneinfo.ZoneInfo(venue.city.timezone))
    day = min(show.added_at.date(), local_now.date())
    day -= dt.timedelta(days=PLAYED_DAYS_AGO[0] + show.number % span)
    hour, minute = seeded(seed, "played", profile.index, show.number).choice(SHOW_TIMES)
    return Played(show, dt.datetime.combine(day, dt.time(hour, minute)), venue)


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


def event_count_and_tour(seed: int, profile: ArtistProfile, today: dt.date) -> tuple[int, str]:
    """How many events the artist has (before additions), and the name of its coming tour."""
    rng = seeded(seed, "ticketmaster", profile.index)
    if profile.index % 9 == 8:
        count = 0
    else:
        low, high = {"big": (25, 40), "normal": (1, 12), "small": (0, 3)}[profile.tier]
        count = rng.randint(low, high)
    return count, f"{rng.choice(words.TOUR_WORDS)} Tour {today.year + 1}"


def make_events(
    seed: int,
    profile: ArtistProfile,
    ids: IdCodec,
    today: dt.date,
    *,
    added: Sequence[AddedEvent] = (),
    cancelled: frozenset[int] = frozenset(),
) -> list[Event]:
    """The artist's events: generated ones, then those added through the control API (in the
    order added), with the ``cancelled`` ones (by position) turned ``canceled``."""
    count, tour = event_count_and_tour(seed, profile, today)
    events = [_event(seed, profile, ids, today, local, tour) for local in range(count)]
    venues = [event.venue for event in events]
    for local, item in enumerate(added, start=count):
        if isinstance(item, PlayedShow):
            played = plan_played(seed, profile, ids, item, venues)
            # Built like any added show (name, supports, prices), then moved to where it was
            # played; "offsale": nothing is sold for a show that is over.
            fresh = _event(seed, profile, ids, played.start.date(), local, tour, fresh=True)
            events.append(replace(fresh, status="offsale", start=played.start, venue=played.venue))
        else:
            events.append(_event(seed, profile, ids, item, local, tour, fresh=True))
    return [replace(e, status="canceled") if e.local in cancelled else e for e in events]


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
    hour, minute = rng.choice(SHOW_TIMES)
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
