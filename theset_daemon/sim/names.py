"""Names: artists (unique by construction), guests, song titles, and the text matching search uses.

Artist names come from a fixed cycle of 20 name patterns ("Velvet Meridian", "The Velvet
Meridians", "Sigur Rós"-like, "Guns N' Roses"-like, "AC/DC"-like, solo "Ada Sorrel", ...). Within a
pattern, the artist's rank goes through a seeded bijection onto the pattern's combinations, so two
artists never share a name (past a pattern's capacity a roman numeral is added). Two slots of the
cycle are *doppelgangers*: the previous artist's name plus "Trio", "Tribute Band", ... so keyword
searches meet similar names, as they do on the real services.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from theset_daemon.sim import words

# One entry per slot of the 20-artist cycle. "doppel" copies the name of the artist before it,
# which is never itself a doppelganger.
SLOTS: tuple[str, ...] = (
    "plain", "the", "solo", "doppel", "plain", "nordic", "the", "apostrophe", "plain", "slash",
    "the", "ampersand", "plain", "doppel", "solo", "umlaut", "the", "exclaim", "plain", "the",
)  # fmt: skip

_A, _N = words.ADJECTIVES, words.NOUNS
_F, _S, _L = words.FIRST_NAMES, words.SURNAMES, words.SLASH_LETTERS


def _pair(first: Sequence[str], second: Sequence[str]) -> Callable[[int], tuple[str, str]]:
    return lambda code: (first[code // len(second)], second[code % len(second)])


def _distinct_pair(pool: Sequence[str]) -> Callable[[int], tuple[str, str]]:
    size = len(pool)

    def decode(code: int) -> tuple[str, str]:
        first, rest = divmod(code, size - 1)
        return pool[first], pool[rest if rest < first else rest + 1]

    return decode


def _slash(code: int) -> str:
    letters = []
    for _ in range(4):
        code, digit = divmod(code, len(_L))
        letters.append(_L[digit])
    return f"{letters[0]}{letters[1]}/{letters[2]}{letters[3]}"


def _render(pattern: str, code: int) -> str:
    if pattern == "plain":
        adjective, noun = _pair(_A, _N)(code)
        return f"{adjective} {noun}"
    if pattern == "the":
        adjective, noun = _pair(_A, _N)(code)
        return f"The {adjective} {noun}s"
    if pattern == "solo":
        first, last = _pair(_F, _S)(code)
        return f"{first} {last}"
    if pattern == "nordic":
        one, two = _distinct_pair(words.NORDIC)(code)
        return f"{one} {two}"
    if pattern == "apostrophe":
        one, two = _distinct_pair(_N)(code)
        return f"{one}s N' {two}s"
    if pattern == "slash":
        return _slash(code)
    if pattern == "ampersand":
        first, noun = _pair(_F, _N)(code)
        return f"{first} & the {noun}s"
    if pattern == "umlaut":
        umlaut, noun = _pair(words.UMLAUT, _N)(code)
        return f"{umlaut} {noun}"
    if pattern == "exclaim":
        one, two = _distinct_pair(_N)(code)
        return f"{one}! at the {two}"
    raise ValueError(f"unknown name pattern {pattern!r}")


CAPACITY: Mapping[str, int] = MappingProxyType(
    {
        "plain": len(_A) * len(_N),
        "the": len(_A) * len(_N),
        "solo": len(_F) * len(_S),
        "nordic": len(words.NORDIC) * (len(words.NORDIC) - 1),
        "apostrophe": len(_N) * (len(_N) - 1),
        "slash": len(_L) ** 4,
        "ampersand": len(_F) * len(_N),
        "umlaut": len(words.UMLAUT) * len(_N),
        "exclaim": len(_N) * (len(_N) - 1),
    }
)


def _roman(number: int) -> str:
    numerals = (
        (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
        (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
    )  # fmt: skip
    out = []
    for value, numeral in numerals:
        count, number = divmod(number, value)
        out.append(numeral * count)
    return "".join(out)


class ArtistNamer:
    """The name of artist ``index`` under ``seed``: pure, O(1), unique across indices."""

    def __init__(self, seed: int) -> None:
        self._affine: dict[str, tuple[int, int]] = {}
        for pattern, capacity in CAPACITY.items():
            rng = random.Random(f"{seed}/names/{pattern}")
            multiplier = rng.randrange(1, capacity)
            while math.gcd(multiplier, capacity) != 1:
                multiplier = rng.randrange(1, capacity)
            self._affine[pattern] = (multiplier, rng.randrange(capacity))

    @staticmethod
    def doppelganger_of(index: int) -> int | None:
        return index - 1 if SLOTS[index % len(SLOTS)] == "doppel" else None

    def name(self, index: int) -> str:
        original = self.doppelganger_of(index)
        if original is not None:
            suffix = words.DOPPELGANGER_SUFFIXES[(index // len(SLOTS)) % 6]
            return f"{self.name(original)} {suffix}"
        slot = index % len(SLOTS)
        pattern = SLOTS[slot]
        siblings = [s for s, p in enumerate(SLOTS) if p == pattern]
        rank = (index // len(SLOTS)) * len(siblings) + siblings.index(slot)
        capacity = CAPACITY[pattern]
        multiplier, offset = self._affine[pattern]
        name = _render(pattern, (multiplier * (rank % capacity) + offset) % capacity)
        return name if rank < capacity else f"{name} {_roman(rank // capacity + 1)}"


def sort_name(name: str) -> str:
    """setlist.fm's sortName: "The X" -> "X, The"; a solo "First Last" -> "Last, First"."""
    if name.startswith("The "):
        return f"{name[4:]}, The"
    parts = name.split(" ")
    if len(parts) == 2 and parts[0] in words.FIRST_NAMES and parts[1] in words.SURNAMES:
        return f"{parts[1]}, {parts[0]}"
    return name


def guest_name(rng: random.Random) -> str:
    form = rng.randrange(4)
    if form == 0:
        return f"{rng.choice(words.GUEST_PREFIXES)} {rng.choice(words.NOUNS)}"
    return f"{rng.choice(words.FIRST_NAMES)} {rng.choice(words.GUEST_SURNAMES)}"


class SongBook:
    """One artist's song titles, unique (case-insensitively) and always in the same order.

    Titles never contain " - " or parentheses, so the suffixes the generator adds ("- Remastered
    2011", "(Live)", "(feat. X)") are the only ones a title carries.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def next(self) -> str:
        while True:
            title = self._make()
            if title.casefold() not in self._used:
                self._used.add(title.casefold())
                return title

    def _make(self) -> str:
        r = self._rng
        form = r.randrange(11)
        noun, noun2, adjective = r.choice(_N), r.choice(_N), r.choice(_A)
        if form == 0:
            return f"{adjective} {noun}"
        if form == 1:
            return f"{noun} of the {noun2}s"
        if form == 2:
            return f"The {noun}"
        if form == 3:
            return f"{r.choice(words.TITLE_VERBS)} {noun}s"
        if form == 4:
            return f"{adjective} {noun}s"
        if form == 5:
            return f"{noun}'s {r.choice(('Lament', 'Song', 'Return', 'Dream'))}"
        if form == 6:
            return f"{r.choice(words.TITLE_WORDS)} {noun}"
        if form == 7:
            return f"Song for {r.choice(_F)}"
        if form == 8:
            return f"{noun} #{r.randint(1, 9)}"
        if form == 9:
            return f"{r.choice(words.TITLE_VERBS)} {r.choice(('Down', 'Again', 'Home', 'Slow'))}"
        return f"{adjective} {noun} {r.choice(('Blues', 'Waltz', 'Song', 'Hymn'))}"


_NON_WORD = re.compile(r"[^0-9a-z]+")
# Letters NFKD leaves whole; spelled the way people type them without the key.
_UNDECOMPOSABLE = str.maketrans({"ß": "ss", "þ": "th", "æ": "ae", "ø": "o", "ð": "d", "ł": "l"})


def normalize(text: str) -> str:
    """Case-, accent- and punctuation-blind form for search: "Sigur Rós" -> "sigur ros"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _NON_WORD.sub(" ", stripped.translate(_UNDECOMPOSABLE)).strip()


def slug(text: str) -> str:
    return normalize(text).replace(" ", "-") or "x"
