"""Who appears in the simulated world: catalog artists, their guests, and "Various Artists".

A catalog artist exists on all three providers (Spotify id, Ticketmaster attraction id,
MusicBrainz id). A guest (featured artist, remixer, support act, a cover's original artist) belongs
to one host artist, exists on the providers too, but is not in the catalog: a correct import of the
host never stores the guest as an artist of its own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from theset_daemon.sim import words
from theset_daemon.sim.ids import IdCodec, Kind
from theset_daemon.sim.names import ArtistNamer, guest_name, normalize, slug, sort_name

Tier = Literal["big", "normal", "small"]
GUESTS_PER_ARTIST = 16
VARIOUS_ARTISTS_NAME = "Various Artists"


def seeded(seed: int, *parts: object) -> random.Random:
    """A random number generator for one purpose of one thing, independent of every other."""
    return random.Random(repr((seed, *parts)))


@dataclass(frozen=True, slots=True)
class Credit:
    """An artist as it appears in ``artists[]`` of Spotify albums and tracks."""

    spotify_id: str
    name: str


@dataclass(frozen=True, slots=True)
class ArtistProfile:
    """What every provider knows about a catalog artist, without its releases or shows."""

    index: int
    name: str
    normalized: str
    sort_name: str
    spotify_id: str
    ticketmaster_id: str
    mbid: str
    tier: Tier
    genres: tuple[str, ...]
    popularity: int
    followers: int
    image_key: str | None  # None: the artist has no images
    disambiguation: str
    tm_genre: tuple[str, str]  # (name, id)
    setlistfm_key: str  # the 8 hex digits of the setlist.fm artist page URL
    doppelganger_of: int | None

    @property
    def credit(self) -> Credit:
        return Credit(self.spotify_id, self.name)

    @property
    def slug(self) -> str:
        return slug(self.name)


@dataclass(frozen=True, slots=True)
class Guest:
    host: int
    number: int
    name: str
    spotify_id: str
    ticketmaster_id: str
    mbid: str
    popularity: int
    followers: int
    image_key: str

    @property
    def credit(self) -> Credit:
        return Credit(self.spotify_id, self.name)


def tier_of(index: int) -> Tier:
    """Every 25th artist (0 included) is big: over 50 releases, an album over 50 tracks."""
    if index % 25 == 0:
        return "big"
    return "small" if index % 9 == 4 else "normal"


def make_profile(seed: int, index: int, namer: ArtistNamer, ids: IdCodec) -> ArtistProfile:
    rng = seeded(seed, "profile", index)
    tier = tier_of(index)
    name = namer.name(index)
    genres = () if rng.random() < 0.1 else tuple(rng.sample(words.GENRES, rng.randint(1, 3)))
    low, high = {"big": (60, 95), "normal": (10, 80), "small": (0, 30)}[tier]
    popularity = rng.randint(low, high)
    followers = int(10 ** (1 + popularity / 18) * rng.uniform(0.5, 1.5))
    city = rng.choice(words.CITIES)
    kind = genres[0] if genres else "rock"
    disambiguation = "" if rng.random() < 0.4 else f"{city.name} {kind} act"
    return ArtistProfile(
        index=index,
        name=name,
        normalized=normalize(name),
        sort_name=sort_name(name),
        spotify_id=ids.spotify(Kind.ARTIST, index),
        ticketmaster_id=ids.ticketmaster(Kind.ATTRACTION, index),
        mbid=ids.mbid(Kind.ARTIST, index),
        tier=tier,
        genres=genres,
        popularity=popularity,
        followers=followers,
        image_key=None if rng.random() < 0.08 else ids.hex_id("artist-image", index, length=24),
        disambiguation=disambiguation,
        tm_genre=words.TM_GENRES[hash_index(kind) % len(words.TM_GENRES)],
        setlistfm_key=ids.hex_id("setlistfm-artist", index),
        doppelganger_of=namer.doppelganger_of(index),
    )


def make_guest(seed: int, host: int, number: int, ids: IdCodec) -> Guest:
    rng = seeded(seed, "guest", host, number)
    popularity = rng.randint(5, 70)
    return Guest(
        host=host,
        number=number,
        name=guest_name(rng),
        spotify_id=ids.spotify(Kind.GUEST, host, number),
        ticketmaster_id=ids.ticketmaster(Kind.GUEST, host, number),
        mbid=ids.mbid(Kind.GUEST, host, number),
        popularity=popularity,
        followers=int(10 ** (1 + popularity / 20)),
        image_key=ids.hex_id("guest-image", host, number, length=24),
    )


def various_artists(ids: IdCodec) -> Credit:
    return Credit(ids.spotify(Kind.VARIOUS, 0), VARIOUS_ARTISTS_NAME)


def hash_index(text: str) -> int:
    """A stable small hash (``hash()`` of a str changes between processes)."""
    return sum((position + 1) * ord(char) for position, char in enumerate(text))
