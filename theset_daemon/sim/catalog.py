"""The simulated world as one object: artists by index, and everything each provider knows.

Nothing is generated up front. An artist's profile, discography, events and setlists are each
made on first use from ``(seed, index)`` alone and kept in small LRU caches, so a catalog of
10,000 artists exists the moment it is constructed, and evicting and regenerating an artist gives
back exactly the same data. Ids decode to their owner (see ``ids.py``), so any id the simulator
ever served resolves later without an index.

Control-route additions (``POST /_sim/catalog``) are recorded as facts ("two albums added on
2026-11-28") and replayed on top of the generated data, so they survive cache eviction too.
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
from theset_daemon.sim.shows import (
    VENUE_POOL,
    Event,
    Setlist,
    Venue,
    make_events,
    make_setlists,
    make_venue,
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
    upcoming_shows: int  # every event listed under the artist's attraction id, any status
    past_setlists: int  # every setlist of the artist, empty ones included

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
        self._added_shows: dict[int, list[dt.date]] = {}
        self._normalized_names: list[str] | None = None

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
        added = tuple(self._added_shows.get(index, ()))
        return self._events.get(
            index,
            lambda: make_events(self.seed, self.profile(index), self.ids, self.today, added=added),
        )

    def setlists(self, index: int) -> list[Setlist]:
        return self._setlists.get(
            index, lambda: make_setlists(self.seed, self.profile(index), self.ids, self.today)
        )

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
                upcoming_shows=len(self.events(index)),
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

    def add(self, index: int, *, albums: int, shows: int, on: dt.date) -> None:
        """Record ``albums`` new studio albums and ``shows`` new events for the artist."""
        if albums:
            self._added_albums.setdefault(index, []).extend([on] * albums)
            self._discographies.drop(index)
        if shows:
            self._added_shows.setdefault(index, []).extend([on] * shows)
            self._events.drop(index)
        self._counts.pop(index, None)

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
