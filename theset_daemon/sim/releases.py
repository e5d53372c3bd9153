"""One artist's Spotify releases as the simulator holds them, and :class:`ReleaseWriter`, which
creates them with their ground truth.

The writer labels every track as it creates it and counts as it goes (CONTRACT.md section 8):

- ``tracks``: every track on a release in the groups album, single, compilation;
- ``duplicate_tracks``: every counted copy of a studio song after its first (repeats on singles,
  deluxe editions and compilations, remasters, radio edits, clean or explicit twins);
- ``live_tracks``: live recordings; each exists once and is never a duplicate;
- remixes, B-sides and bonus tracks are songs of their own.

So a correct import stores ``tracks - duplicate_tracks`` songs, ``live_tracks`` of them live. The
labels (:class:`Track.song_key`, ``live``, ``duplicate``) come from the same bookkeeping and are
what tests recount through the HTTP API; nothing is re-derived from titles.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from theset_daemon.sim import words
from theset_daemon.sim.ids import IdCodec, Kind
from theset_daemon.sim.names import SongBook
from theset_daemon.sim.people import (
    GUESTS_PER_ARTIST,
    ArtistProfile,
    Credit,
    Guest,
    make_guest,
    seeded,
)

AlbumType = Literal["album", "single", "compilation"]
AlbumGroup = Literal["album", "single", "compilation", "appears_on"]
Precision = Literal["year", "month", "day"]
COUNTED_GROUPS: tuple[AlbumGroup, ...] = ("album", "single", "compilation")
# Spotify lists an artist's albums group by group, newest first within a group.
GROUP_ORDER: Mapping[AlbumGroup, int] = MappingProxyType(
    {"album": 0, "single": 1, "compilation": 2, "appears_on": 3}
)

Version = Literal[
    "studio",  # the first counted copy of a studio song, or a studio song on someone else's release
    "repeat",  # the same recording again (single, deluxe, compilation)
    "remaster",
    "radio_edit",
    "clean",
    "live",
    "remix",
]


@dataclass(frozen=True, slots=True)
class Song:
    """A studio song: what stays the same across the releases it appears on."""

    key: int
    base: str  # the title without "(feat. ...)"
    title: str
    duration_ms: int
    explicit: bool
    credits: tuple[Credit, ...]
    isrc: str


@dataclass(slots=True)
class Track:
    local: int
    owner: int  # the artist whose discography holds it
    ids: IdCodec
    name: str
    duration_ms: int
    explicit: bool
    artists: tuple[Credit, ...]
    release: Release = field(repr=False)  # the release lists its tracks: no repr loop
    track_number: int
    disc_number: int
    popularity: int
    isrc: str
    # Ground truth, set by the builder when the track is made.
    song_key: int
    version: Version
    live: bool
    duplicate: bool
    counted: bool

    @property
    def spotify_id(self) -> str:
        # Made on demand: most tracks are counted far more often than they are served.
        return self.ids.spotify(Kind.TRACK, self.owner, self.local)


@dataclass(slots=True, eq=False)
class Release:
    local: int
    spotify_id: str
    name: str
    album_type: AlbumType
    album_group: AlbumGroup
    release_date: str
    precision: Precision
    artists: tuple[Credit, ...]
    label: str
    popularity: int
    upc: str
    image_key: str
    tracks: list[Track] = field(default_factory=list)


@dataclass(slots=True)
class Discography:
    profile: ArtistProfile
    releases: list[Release]
    tracks: list[Track]  # by local index (the payload of each track id)
    albums: int = 0  # releases in the counted groups
    track_count: int = 0
    live_tracks: int = 0
    duplicate_tracks: int = 0

    def listed(self, groups: tuple[AlbumGroup, ...]) -> list[Release]:
        """The releases of ``groups`` in Spotify's order: group by group, newest first."""
        chosen = [release for release in self.releases if release.album_group in groups]
        chosen.sort(key=lambda release: (release.release_date + "-01-01")[:10], reverse=True)
        chosen.sort(key=lambda release: GROUP_ORDER[release.album_group])  # stable
        return chosen


class ReleaseWriter:
    """Creates one artist's releases, tracks and songs, labelling and counting each track; the
    discography it writes is :attr:`out`. Every random draw comes from :attr:`rng`."""

    def __init__(self, seed: int, profile: ArtistProfile, ids: IdCodec) -> None:
        self.seed = seed
        self.profile = profile
        self.ids = ids
        self.rng = seeded(seed, "spotify", profile.index)
        self.songs = SongBook(seeded(seed, "songs", profile.index))
        self.out = Discography(profile, [], [])
        self._counted_keys: set[int] = set()
        self._live_keys: set[int] = set()
        self._next_key = 0
        self._guests: dict[int, Guest] = {}

    def _key(self) -> int:
        self._next_key += 1
        return self._next_key

    def guest(self) -> Guest:
        number = self.rng.randrange(GUESTS_PER_ARTIST)
        if number not in self._guests:
            self._guests[number] = make_guest(self.seed, self.profile.index, number, self.ids)
        return self._guests[number]

    def new_song(self, *, featured: float = 0.0, title: str | None = None) -> Song:
        base = title or self.songs.next()
        credits: tuple[Credit, ...] = (self.profile.credit,)
        shown = base
        if self.rng.random() < featured:
            guest = self.guest()
            credits = (self.profile.credit, guest.credit)
            shown = f"{base} (feat. {guest.name})"
        key = self._key()
        return Song(
            key=key,
            base=base,
            title=shown,
            duration_ms=self.rng.randint(125_000, 390_000),
            explicit=self.rng.random() < 0.18,
            credits=credits,
            isrc=self._isrc(key),
        )

    def _isrc(self, key: int) -> str:
        code = self.ids.hex_id("isrc", self.profile.index, key, length=3).upper()
        digits = self.ids.digits("isrc", self.profile.index, key, length=7)
        return f"QZ{code}{digits}"

    def release(
        self,
        name: str,
        album_type: AlbumType,
        group: AlbumGroup,
        date: dt.date,
        *,
        precision: Precision = "day",
        artists: tuple[Credit, ...] | None = None,
    ) -> Release:
        local = len(self.out.releases)
        text = {"year": f"{date:%Y}", "month": f"{date:%Y-%m}", "day": f"{date:%Y-%m-%d}"}
        release = Release(
            local=local,
            spotify_id=self.ids.spotify(Kind.ALBUM, self.profile.index, local),
            name=name,
            album_type=album_type,
            album_group=group,
            release_date=text[precision],
            precision=precision,
            artists=artists or (self.profile.credit,),
            label=self.rng.choice(words.LABELS),
            popularity=self.rng.randint(0, max(1, self.profile.popularity)),
            upc=self.ids.digits("upc", self.profile.index, local, length=12),
            image_key=self.ids.hex_id("album-image", self.profile.index, local, length=24),
        )
        self.out.releases.append(release)
        if group != "appears_on":
            self.out.albums += 1
        return release

    def add(
        self,
        release: Release,
        song: Song,
        version: Version,
        *,
        name: str | None = None,
        explicit: bool | None = None,
        duration_ms: int | None = None,
        disc_number: int = 1,
        isrc: str | None = None,
        artists: tuple[Credit, ...] | None = None,
    ) -> Track:
        counted = release.album_group != "appears_on"
        live = version == "live"
        duplicate = False
        if counted:
            self.out.track_count += 1
            if live:
                if song.key in self._live_keys:
                    raise AssertionError(f"live recording {song.title!r} generated twice")
                self._live_keys.add(song.key)
                self.out.live_tracks += 1
            elif song.key in self._counted_keys:
                duplicate = True
                self.out.duplicate_tracks += 1
            else:
                self._counted_keys.add(song.key)
        local = len(self.out.tracks)
        track = Track(
            local=local,
            owner=self.profile.index,
            ids=self.ids,
            name=name or song.title,
            duration_ms=duration_ms or song.duration_ms,
            explicit=song.explicit if explicit is None else explicit,
            artists=artists or song.credits,
            release=release,
            track_number=1 + sum(1 for t in release.tracks if t.disc_number == disc_number),
            disc_number=disc_number,
            popularity=self.rng.randint(0, 100),
            isrc=isrc or song.isrc,
            song_key=song.key,
            version=version,
            live=live,
            duplicate=duplicate,
            counted=counted,
        )
        release.tracks.append(track)
        self.out.tracks.append(track)
        return track
