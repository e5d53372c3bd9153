"""The simulated world as one object: artists by index, and everything each provider knows.

Nothing is generated up front. An artist's profile, discography, events and setlists are each
made on first use from ``(seed, index)`` alone and kept in small LRU caches, so a catalog of
10,000 artists exists the moment it is constructed, and evicting and regenerating an artist gives
back exactly the same data. Ids decode to their owner (see ``ids.py``), so any id the simulator
ever served resolves later without an index.

Control-route changes (``POST /_sim/catalog``) are recorded as facts ("two albums added on
2026-11-28", "the artist's third event cancelled", "a played show added at 12:03:07") and replayed
on top of the generated data, so they survive cache eviction too. ``version`` counts the changes,
so a cache of anything read across artists (a setlist search) knows when it went stale.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from theset_daemon.sim.discography import DiscographyBuilder
from theset_daemon.sim.ids import Decoded, IdCodec, Kind
from theset_daemon.sim.names import ArtistNamer, normalize
from theset_daemon.sim.people import (
    GUESTS_PER_ARTIST,
    ArtistProfile,
    Credit,
    Guest,
    make_guest,
    make_profile,
    various_artists,
)
from theset_daemon.sim.releases import COUNTED_GROUPS, Discography, Release, Track
from theset_daemon.sim.setlists import (
    Setlist,
    SetlistSchedule,
    make_setlists,
    played_setlist,
    played_setlist_id,
    setlist_schedule,
)
from theset_daemon.sim.shows import (
    VENUE_POOL,
    AddedEvent,
    Event,
    PlayedShow,
    Venue,
    event_count_and_tour,
    make_events,
    make_venue,
    plan_played,
    utc,
)

K = TypeVar("K")
V = TypeVar("V")
MAX_ARTISTS = 1 << 20  # the owner field of an id


class _Lru(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, make: Callable[[], V]) -> V:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return value

    def drop(self, key: K) -> None:
        self._items.pop(key, None)


@dataclass(frozen=True, slots=True)
class ArtistCounts:
    """What a correct import of the artist stores (CONTRACT.md section 8)."""

    albums: int  # releases in the groups album, single, compilation
    tracks: int
    live_tracks: int
    duplicate_tracks: int
    # every event listed under the artist's attraction id, any status, but the played shows
    upcoming_shows: int
    past_setlists: int  # every setlist of the artist, empty ones included, played shows' too

    def as_json(self) -> dict[str, int]:
        return {
            "albums": self.albums,
            "tracks": self.tracks,
            "live_tracks": self.live_tracks,
            "duplicate_tracks": self.duplicate_tracks,
            "upcoming_shows": self.upcoming_shows,
            "past_setlists": self.past_setlists,
        }


@dataclass(frozen=True, slots=True)
class CatalogChange:
    """What one ``POST /_sim/catalog`` made, by the providers' ids."""

    setlist_ids: tuple[str, ...]  # setlist.fm: the played shows' setlists
    played_event_ids: tuple[str, ...]  # Ticketmaster: the same shows, as past events
    cancelled_event_ids: tuple[str, ...]  # Ticketmaster: upcoming events now "canceled"


@dataclass(frozen=True, slots=True)
class TrackLabel:
    """The generator's own label of a track, for tests that recount through the API."""

    song_key: int
    version: str
    live: bool
    duplicate: bool
    counted: bool


class Catalog:
    def __init__(
        self, seed: int, artist_count: int, *, today: dt.date | None = None, cache_size: int = 256
    ) -> None:
        if not 1 <= artist_count < MAX_ARTISTS:
            raise ValueError(f"artist_count must be 1..{MAX_ARTISTS - 1}")
        self.seed = seed
        self.size = artist_count
        self.today = today or dt.datetime.now(dt.UTC).date()
        self.ids = IdCodec(seed)
        self.various: Credit = various_artists(self.ids)
        self._namer = ArtistNamer(seed)
        self._profiles: _Lru[int, ArtistProfile] = _Lru(8192)
        self._discographies: _Lru[int, Discography] = _Lru(cache_size)
        self._events: _Lru[int, list[Event]] = _Lru(cache_size)
        self._setlists: _Lru[int, list[Setlist]] = _Lru(cache_size)
        self._venues: _Lru[int, Venue] = _Lru(VENUE_POOL)
        self._counts: dict[int, ArtistCounts] = {}
        self._added_albums: dict[int, list[dt.date]] = {}
        self._added_events: dict[int, list[AddedEvent]] = {}
        self._played: dict[int, list[PlayedShow]] = {}  # the PlayedShows of _added_events
        self._cancelled: dict[int, set[int]] = {}  # event positions
        self._normalized_names: list[str] | None = None
        self.version = 0

    # --- per artist ------------------------------------------------------------------------------

    def profile(self, index: int) -> ArtistProfile:
        return self._profiles.get(
            index, lambda: make_profile(self.seed, index, self._namer, self.ids)
        )

    def discography(self, index: int) -> Discography:
        def build() -> Discography:
            builder = DiscographyBuilder(self.seed, self.profile(index), self.ids, self.today)
            builder.build()
            for number, day in enumerate(self._added_albums.get(index, ())):
                builder.add_studio_album(day, number)
            return builder.out

        return self._discographies.get(index, build)

    def events(self, index: int) -> list[Event]:
        def build() -> list[Event]:
            return make_events(
                self.seed,
                self.profile(index),
                self.ids,
                self.today,
                added=self._added_events.get(index, ()),
                cancelled=frozenset(self._cancelled.get(index, ())),
            )

        return self._events.get(index, build)

    def setlists(self, index: int) -> list[Setlist]:
        """Newest first: the generated setlists and those of the played shows added."""

        def build() -> list[Setlist]:
            profile = self.profile(index)
            made = make_setlists(self.seed, profile, self.ids, self.today)
            if not (played := self._played.get(index)):
                return made
            count, tour = event_count_and_tour(self.seed, profile, self.today)
            venues = [event.venue for event in self.events(index)[:count]]
            added = [
                played_setlist(
                    self.seed,
                    profile,
                    self.ids,
                    plan_played(self.seed, profile, self.ids, show, venues),
                    tour,
                )
                for show in reversed(played)  # the latest added first among equal dates
            ]
            return sorted([*added, *made], key=lambda setlist: setlist.date, reverse=True)

        return self._setlists.get(index, build)

    def setlist_schedule(self, index: int) -> SetlistSchedule:
        """The generated setlists' dates and update times (see ``setlists.py``), cheaply."""
        return setlist_schedule(self.seed, self.profile(index), self.today)

    def upcoming_shows(self, index: int) -> int:
        """The artist's events but its played shows: Ticketmaster's ``upcomingEvents``."""
        return len(self.events(index)) - len(self._played.get(index, ()))

    def played_artists(self) -> list[int]:
        """The artists with played shows added, in index order."""
        return sorted(self._played)

    def venue(self, index: int) -> Venue:
        return self._venues.get(index, lambda: make_venue(self.seed, index, self.ids))

    def guest(self, host: int, number: int) -> Guest:
        return make_guest(self.seed, host, number, self.ids)

    def counts(self, index: int) -> ArtistCounts:
        if index not in self._counts:
            songs = self.discography(index)
            self._counts[index] = ArtistCounts(
                albums=songs.albums,
                tracks=songs.track_count,
                live_tracks=songs.live_tracks,
                duplicate_tracks=songs.duplicate_tracks,
                upcoming_shows=self.upcoming_shows(index),
                past_setlists=len(self.setlists(index)),
            )
        return self._counts[index]

    def labels(self, index: int) -> dict[str, TrackLabel]:
        """Spotify track id -> the generator's label, for every track of the artist."""
        return {
            track.spotify_id: TrackLabel(
                track.song_key, track.version, track.live, track.duplicate, track.counted
            )
            for track in self.discography(index).tracks
        }

    def change(
        self,
        index: int,
        *,
        now: dt.datetime,
        albums: int = 0,
        shows: int = 0,
        setlists: int = 0,
        cancel: int = 0,
    ) -> CatalogChange:
        """Add ``albums`` studio albums, ``shows`` upcoming events and ``setlists`` played shows
        to the artist at ``now`` (UTC), then cancel its ``cancel`` soonest upcoming events that
        are not cancelled yet (undated ones last; this call's new shows among them). All or
        nothing: ValueError, and no change, when there are fewer than ``cancel`` to cancel."""
        if cancel and cancel > (available := len(self._cancellable(index, now)) + shows):
            raise ValueError(f"the artist has {available} upcoming shows that are not cancelled")
        if albums:
            self._added_albums.setdefault(index, []).extend([now.date()] * albums)
            self._discographies.drop(index)
        played_before = len(self._played.get(index, ()))
        new_played = [PlayedShow(played_before + n, now) for n in range(setlists)]
        if new_played:
            self._played.setdefault(index, []).extend(new_played)
        if shows or new_played:
            added: list[AddedEvent] = [now.date() for _ in range(shows)]
            self._added_events.setdefault(index, []).extend([*added, *new_played])
        self._events.drop(index)
        chosen = [event.local for event in self._cancellable(index, now)[:cancel]]
        if chosen:
            self._cancelled.setdefault(index, set()).update(chosen)
            self._events.drop(index)
        self._setlists.drop(index)
        self._counts.pop(index, None)
        self.version += 1
        events = self.events(index)
        return CatalogChange(
            setlist_ids=tuple(played_setlist_id(self.ids, index, s.number) for s in new_played),
            # The played shows are this call's last events.
            played_event_ids=tuple(e.ticketmaster_id for e in events[len(events) - setlists :]),
            cancelled_event_ids=tuple(events[local].ticketmaster_id for local in chosen),
        )

    def _cancellable(self, index: int, now: dt.datetime) -> list[Event]:
        """The artist's events still to come and not cancelled, soonest first, undated last:
        Ticketmaster's ``sort=date,asc`` order, so the first ones listed are the ones cancelled."""
        coming = [
            event
            for event in self.events(index)
            if event.status != "canceled"
            and (event.start is None or utc(event.start, event.venue) > now)
        ]
        return sorted(coming, key=lambda event: (event.sort_start, event.ticketmaster_id))

    # --- names -----------------------------------------------------------------------------------

    def _names(self) -> list[str]:
        if self._normalized_names is None:
            self._normalized_names = [
                normalize(self._namer.name(index)) for index in range(self.size)
            ]
        return self._normalized_names

    def search(self, query: str) -> list[int]:
        """Artists whose name holds every word of ``query`` (case, accents and punctuation
        ignored): exact matches first, then names starting with it, then by popularity."""
        wanted = normalize(query)
        tokens = wanted.split()
        if not tokens:
            return []
        found = [i for i, name in enumerate(self._names()) if all(t in name for t in tokens)]

        def rank(index: int) -> tuple[int, int, int]:
            name = self._names()[index]
            closeness = 0 if name == wanted else 1 if name.startswith(wanted) else 2
            return closeness, -self.profile(index).popularity, index

        return sorted(found, key=rank)

    def find_name(self, name: str) -> int | None:
        """The artist called ``name`` (case, accents and punctuation ignored), if any."""
        wanted = normalize(name)
        for index, candidate in enumerate(self._names()):
            if candidate == wanted:
                return index
        return None

    # --- ids -------------------------------------------------------------------------------------

    def _artist_or_guest(self, decoded: Decoded | None, kind: Kind) -> ArtistProfile | Guest | None:
        """The artist (``kind``: how the provider's ids call an artist) or guest an id names."""
        if decoded is None or decoded.owner >= self.size:
            return None
        if decoded.kind is kind:
            return self.profile(decoded.owner)
        if decoded.kind is Kind.GUEST and decoded.local < GUESTS_PER_ARTIST:
            return self.guest(decoded.owner, decoded.local)
        return None

    def _of_kind(self, decoded: Decoded | None, kind: Kind) -> Decoded | None:
        """``decoded`` when it is an id of ``kind`` owned by an artist of the catalog."""
        if decoded is None or decoded.kind is not kind or decoded.owner >= self.size:
            return None
        return decoded

    def spotify_artist(self, spotify_id: str) -> ArtistProfile | Guest | Credit | None:
        if spotify_id == self.various.spotify_id:
            return self.various
        return self._artist_or_guest(self.ids.decode_spotify(spotify_id), Kind.ARTIST)

    def spotify_album(self, spotify_id: str) -> Release | None:
        album = self._of_kind(self.ids.decode_spotify(spotify_id), Kind.ALBUM)
        return None if album is None else _nth(self.discography(album.owner).releases, album.local)

    def spotify_track(self, spotify_id: str) -> Track | None:
        track = self._of_kind(self.ids.decode_spotify(spotify_id), Kind.TRACK)
        return None if track is None else _nth(self.discography(track.owner).tracks, track.local)

    def attraction(self, ticketmaster_id: str) -> ArtistProfile | Guest | None:
        return self._artist_or_guest(self.ids.decode_ticketmaster(ticketmaster_id), Kind.ATTRACTION)

    def event(self, ticketmaster_id: str) -> tuple[ArtistProfile, Event] | None:
        decoded = self._of_kind(self.ids.decode_ticketmaster(ticketmaster_id), Kind.EVENT)
        if decoded is None:
            return None
        event = _nth(self.events(decoded.owner), decoded.local)
        return None if event is None else (self.profile(decoded.owner), event)

    def venue_by_id(self, ticketmaster_id: str) -> Venue | None:
        decoded = self.ids.decode_ticketmaster(ticketmaster_id)
        if decoded is None or decoded.kind is not Kind.VENUE or decoded.owner >= VENUE_POOL:
            return None
        return self.venue(decoded.owner)

    def by_mbid(self, mbid: str) -> ArtistProfile | Guest | None:
        return self._artist_or_guest(self.ids.decode_mbid(mbid), Kind.ARTIST)


def _nth(items: Sequence[V], index: int) -> V | None:
    return items[index] if index < len(items) else None


__all__ = ["COUNTED_GROUPS", "ArtistCounts", "Catalog", "TrackLabel"]
