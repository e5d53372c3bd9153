"""One artist's Spotify discography, generated with its ground truth.

Releases cover what a song-catalog import has to get right: albums, singles and compilations;
live albums; deluxe editions (the album again plus bonus tracks); remastered editions; radio
edits; explicit and clean twins of the same song; remixes (different songs); featured artists;
and other artists' releases the artist only *appears on*, which a correct import ignores.

The builder labels every track as it creates it and counts as it goes (CONTRACT.md section 8):

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
    various_artists,
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


class DiscographyBuilder:
    """Generates one artist's releases in a fixed order from ``(seed, index)``."""

    def __init__(self, seed: int, profile: ArtistProfile, ids: IdCodec, today: dt.date) -> None:
        self.seed = seed
        self.profile = profile
        self.ids = ids
        self.today = today
        self.rng = seeded(seed, "spotify", profile.index)
        self.songs = SongBook(seeded(seed, "songs", profile.index))
        self.out = Discography(profile, [], [])
        self._counted_keys: set[int] = set()
        self._live_keys: set[int] = set()
        self._next_key = 0
        self._studio: list[Song] = []
        self._live_places: set[str] = set()
        self._guests: dict[int, Guest] = {}

    # --- bookkeeping -------------------------------------------------------------------------

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

    # --- dates and names -------------------------------------------------------------------------

    def _date(self, year: int) -> dt.date:
        date = dt.date(year, 1, 1) + dt.timedelta(days=self.rng.randrange(365))
        return min(date, self.today - dt.timedelta(days=1))

    def _album_title(self) -> str:
        r = self.rng
        form = r.choice(words.ALBUM_FORMS)
        return form.format(
            adj=r.choice(words.ADJECTIVES),
            noun=r.choice(words.NOUNS),
            noun2=r.choice(words.NOUNS),
            verb=r.choice(words.TITLE_VERBS),
            n=r.randint(2, 9),
        )

    # --- the discography -------------------------------------------------------------------------

    def build(self) -> Discography:
        r, tier = self.rng, self.profile.tier
        last_year = self.today.year - 1
        first_year = {"big": r.randint(1975, 1992), "normal": r.randint(1985, 2018)}.get(
            tier, r.randint(2012, last_year)
        )
        count = {"big": 15, "normal": r.randint(2, 6), "small": 1}[tier]
        span = list(range(first_year, last_year + 1))
        years = sorted(r.sample(span, min(count, len(span))))
        used_titles: set[str] = set()
        for number, year in enumerate(years):
            self._studio_album(year, epic=tier == "big" and number == 2, used_titles=used_titles)
        for number in range({"big": 2, "normal": int(r.random() < 0.35), "small": 0}[tier]):
            self._live_album(parenthesised=number == 0 and r.random() < 0.6)
        compilations = {"big": 3, "normal": int(r.random() < 0.3), "small": 0}[tier]
        names = r.sample(words.COMPILATION_NAMES, len(words.COMPILATION_NAMES))
        for number in range(compilations):
            self._compilation(names[number], anthology=tier == "big" and number == 0)
        singles = {"big": 4, "normal": r.randint(0, 4), "small": r.randint(1, 2)}[tier]
        for _ in range(singles):
            self._standalone_single()
        if tier == "big":  # enough releases that a 50-per-page listing needs a second page
            target = r.randint(55, 62)
            while self.out.albums < target:
                self._standalone_single()
        for _ in range(r.randint(1, 3) if tier != "small" else r.randint(0, 1)):
            self._appears_on()
        return self.out

    def add_studio_album(self, date: dt.date, number: int) -> None:
        """A new album with new songs (``POST /_sim/catalog``), released on ``date``."""
        rng = seeded(self.seed, "added-album", self.profile.index, number)
        self.rng = rng
        album = self.release(self._album_title(), "album", "album", date)
        for _ in range(rng.randint(8, 12)):
            self.add(album, self.new_song(featured=0.1), "studio")

    def _studio_album(self, year: int, *, epic: bool, used_titles: set[str]) -> None:
        r = self.rng
        date = self._date(year)
        precision: Precision = "year" if year < 1990 and r.random() < 0.4 else "day"
        name = self._album_title()
        while name in used_titles:
            name = self._album_title()
        used_titles.add(name)
        size = r.randint(52, 58) if epic else r.randint(8, 14)
        songs = [self.new_song(featured=0.1) for _ in range(size)]
        self._studio.extend(songs)
        for song in r.sample(songs, r.randint(1, 3 if self.profile.tier == "big" else 2)):
            self._lead_single(song, date - dt.timedelta(days=r.randint(20, 150)))
        album = self.release(name, "album", "album", date, precision=precision)
        discs = 3 if epic else 1
        for position, song in enumerate(songs):
            self.add(album, song, "studio", disc_number=1 + position * discs // size)
        deluxe_chance = 0.5 if self.profile.tier == "big" else 0.3
        if r.random() < deluxe_chance:
            deluxe = self.release(
                f"{name} (Deluxe Edition)", "album", "album", self._later(date, 200, 500)
            )
            for song in songs:
                self.add(deluxe, song, "repeat")
            for _ in range(r.randint(2, 5)):  # bonus tracks: songs of their own
                bonus = self.new_song()
                self._studio.append(bonus)
                self.add(deluxe, bonus, "studio")
        if year < 2012 and r.random() < 0.35:
            remaster_year = r.randint(max(year + 8, 2009), min(2024, self.today.year - 1))
            remaster = self.release(
                f"{name} (Remastered {remaster_year})",
                "album",
                "album",
                self._date(remaster_year),
            )
            for song in songs:
                self.add(
                    remaster,
                    song,
                    "remaster",
                    name=f"{song.title} - Remastered {remaster_year}",
                    isrc=self._isrc(self._key()),
                )
        if any(song.explicit for song in songs) and r.random() < 0.4:
            clean = self.release(name, "album", "album", date, precision=precision)
            for song in songs:
                self.add(clean, song, "clean", explicit=False, isrc=self._isrc(self._key()))

    def _later(self, date: dt.date, low_days: int, high_days: int) -> dt.date:
        later = date + dt.timedelta(days=self.rng.randint(low_days, high_days))
        return min(later, self.today - dt.timedelta(days=1))

    def _lead_single(self, song: Song, date: dt.date) -> None:
        r = self.rng
        single = self.release(song.title, "single", "single", date)
        self.add(single, song, "repeat")
        if r.random() < 0.3:
            self.add(
                single,
                song,
                "radio_edit",
                name=f"{song.title} - Radio Edit",
                duration_ms=int(song.duration_ms * 0.8),
                isrc=self._isrc(self._key()),
            )
        if r.random() < 0.35:
            b_side = self.new_song()
            self._studio.append(b_side)
            self.add(single, b_side, "studio")
        if r.random() < 0.3:
            self._remix(single, song)
        if song.explicit and r.random() < 0.5:
            twin = self.release(song.title, "single", "single", date)
            self.add(twin, song, "clean", explicit=False, isrc=self._isrc(self._key()))

    def _remix(self, release: Release, song: Song) -> None:
        remixer = self.guest()
        remix = Song(
            key=self._key(),
            base=f"{song.base} - {remixer.name} Remix",
            title=f"{song.base} - {remixer.name} Remix",
            duration_ms=song.duration_ms + self.rng.randint(20_000, 90_000),
            explicit=song.explicit,
            credits=(self.profile.credit, remixer.credit),
            isrc="",
        )
        self.add(release, remix, "remix", isrc=self._isrc(remix.key))

    def _standalone_single(self) -> None:
        r = self.rng
        song = self.new_song(featured=0.3)
        self._studio.append(song)
        date = self._date(r.randint(max(2000, self.today.year - 15), self.today.year - 1))
        single = self.release(song.title, "single", "single", date)
        self.add(single, song, "studio")
        if r.random() < 0.3:
            b_side = self.new_song()
            self._studio.append(b_side)
            self.add(single, b_side, "studio")
        if r.random() < 0.2:
            self._remix(single, song)
        if song.explicit and r.random() < 0.5:
            twin = self.release(song.title, "single", "single", date)
            self.add(twin, song, "clean", explicit=False, isrc=self._isrc(self._key()))

    def _live_album(self, *, parenthesised: bool) -> None:
        """Live recordings of studio songs. Titles are unique per artist: "(Live)" on at most one
        album, "- Live at <place>" with a different place on every other."""
        r = self.rng
        place = f"{r.choice(words.VENUE_WORDS)} {r.choice(words.VENUE_TYPES)}"
        while place in self._live_places:
            place = f"{r.choice(words.VENUE_WORDS)} {r.choice(words.VENUE_TYPES)}"
        self._live_places.add(place)
        city = r.choice(words.CITIES).name
        year = r.randint(max(1990, self.today.year - 20), self.today.year - 1)
        album = self.release(f"Live at {place}, {city}", "album", "album", self._date(year))
        picks = r.sample(self._studio, min(len(self._studio), r.randint(10, 16)))
        for song in picks:
            recording = Song(
                key=self._key(),
                base=song.base,
                title=song.base,
                duration_ms=int(song.duration_ms * r.uniform(1.0, 1.25)),
                explicit=song.explicit,
                credits=(self.profile.credit,),
                isrc="",
            )
            suffix = " (Live)" if parenthesised else f" - Live at {place}"
            self.add(
                album,
                recording,
                "live",
                name=f"{song.base}{suffix}",
                isrc=self._isrc(recording.key),
            )

    def _compilation(self, name: str, *, anthology: bool) -> None:
        r = self.rng
        years = [int(t.release.release_date[:4]) for t in self.out.tracks]
        first, last = min(years), max(years)
        title = (
            f"Anthology {first}\u2013{last}" if anthology else name.format(artist=self.profile.name)
        )
        date = self._later(dt.date(last, 6, 1), 30, 400)
        compilation = self.release(title, "compilation", "compilation", date)
        size = r.randint(60, 66) if anthology else r.randint(12, 20)
        picks = r.sample(self._studio, min(len(self._studio), size))
        remaster_year = r.randint(2009, self.today.year - 1)
        for position, song in enumerate(picks):
            disc = 1 + position * 2 // len(picks) if anthology else 1
            if r.random() < 0.25:
                self.add(
                    compilation,
                    song,
                    "remaster",
                    name=f"{song.title} - Remastered {remaster_year}",
                    disc_number=disc,
                    isrc=self._isrc(self._key()),
                )
            else:
                self.add(compilation, song, "repeat", disc_number=disc)
        for _ in range(r.randint(1, 2)):  # "previously unreleased": new songs
            fresh = self.new_song()
            self._studio.append(fresh)
            self.add(compilation, fresh, "studio", disc_number=2 if anthology else 1)

    def _appears_on(self) -> None:
        r = self.rng
        form = r.randrange(3)
        guest = self.guest()
        guest_songs = SongBook(seeded(self.seed, "guest-songs", self.profile.index, guest.number))
        date = self._date(r.randint(max(2005, self.today.year - 10), self.today.year - 1))
        if form == 0 and self._studio:
            name = r.choice(words.VARIOUS_COMPILATIONS).format(year=date.year, n=r.randint(1, 9))
            release = self.release(
                name, "compilation", "appears_on", date, artists=(various_artists(self.ids),)
            )
            ours = r.randrange(10)
            for position in range(r.randint(10, 16)):
                if position == ours:
                    self.add(release, r.choice(self._studio), "repeat")
                else:
                    other = self.guest()
                    self._guest_track(release, guest_songs.next(), (other.credit,))
        elif form == 1:
            original = guest_songs.next()
            release = self.release(
                f"{original} ({self.profile.name} Remix)",
                "single",
                "appears_on",
                date,
                artists=(guest.credit, self.profile.credit),
            )
            self._guest_track(
                release,
                f"{original} - {self.profile.name} Remix",
                (guest.credit, self.profile.credit),
            )
        else:
            release = self.release(
                guest_songs.next(), "album", "appears_on", date, artists=(guest.credit,)
            )
            featured_at = r.randrange(8)
            for position in range(r.randint(8, 12)):
                title = guest_songs.next()
                if position == featured_at:
                    self._guest_track(
                        release,
                        f"{title} (feat. {self.profile.name})",
                        (guest.credit, self.profile.credit),
                    )
                else:
                    self._guest_track(release, title, (guest.credit,))

    def _guest_track(self, release: Release, title: str, credits: tuple[Credit, ...]) -> None:
        song = Song(
            key=self._key(),
            base=title,
            title=title,
            duration_ms=self.rng.randint(150_000, 300_000),
            explicit=self.rng.random() < 0.1,
            credits=credits,
            isrc="",
        )
        self.add(release, song, "studio", isrc=self._isrc(song.key))
