"""One artist's Spotify discography, generated in a fixed order from ``(seed, index)``.

Releases cover what a song-catalog import has to get right: albums, singles and compilations;
live albums; deluxe editions (the album again plus bonus tracks); remastered editions; radio
edits; explicit and clean twins of the same song; remixes (different songs); featured artists;
and other artists' releases the artist only *appears on*, which a correct import ignores.

Every release and track is made through :class:`~theset_daemon.sim.releases.ReleaseWriter`,
which labels and counts it (the ground truth); this module decides which releases there are.
"""

from __future__ import annotations

import datetime as dt

from theset_daemon.sim import words
from theset_daemon.sim.ids import IdCodec
from theset_daemon.sim.names import SongBook
from theset_daemon.sim.people import ArtistProfile, Credit, seeded, various_artists
from theset_daemon.sim.releases import Discography, Precision, Release, ReleaseWriter, Song


class DiscographyBuilder(ReleaseWriter):
    """Generates one artist's releases in a fixed order from ``(seed, index)``."""

    def __init__(self, seed: int, profile: ArtistProfile, ids: IdCodec, today: dt.date) -> None:
        super().__init__(seed, profile, ids)
        self.today = today
        self._studio: list[Song] = []
        self._live_places: set[str] = set()

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
