"""Provider ids that look random but decode back to what they name.

The catalog is generated lazily, one artist at a time, so an id must lead back to its artist
without an index of every id ever made: a daemon restarted against a fresh simulator asks for
``/v1/artists/<id>`` straight from its database. Each id therefore carries a small payload (kind,
owner index, local index) plus a keyed tag over it, masked by a keyed hash so ids of one artist
share no visible prefix. A random string of the right shape fails the tag check: that is the
"valid-looking but unknown" id (404), as opposed to a malformed one (400).

Shapes follow the providers: Spotify ids are 22 base62 characters, Ticketmaster ids are
alphanumeric with a kind prefix, MusicBrainz ids are version-4 UUIDs.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_INDEX: Mapping[str, int] = MappingProxyType({c: v for v, c in enumerate(BASE62)})

SPOTIFY_ID_LENGTH = 22
_OWNER_BITS = 20  # up to 1,048,575 artists (settings allow 100,000)


class Kind(enum.IntEnum):
    ARTIST = 1
    ALBUM = 2
    TRACK = 3
    GUEST = 4  # a featured artist, remixer or support act: owner = host artist, local = number
    VARIOUS = 5  # Spotify's "Various Artists"
    ATTRACTION = 6
    EVENT = 7
    VENUE = 8


@dataclass(frozen=True, slots=True)
class Decoded:
    kind: Kind
    owner: int
    local: int


def _base62(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    if value:
        raise ValueError("value does not fit the width")
    return "".join(reversed(digits))


def _from_base62(text: str) -> int | None:
    value = 0
    for char in text:
        digit = _BASE62_INDEX.get(char)
        if digit is None:
            return None
        value = value * 62 + digit
    return value


def is_spotify_id(text: str) -> bool:
    """The shape Spotify accepts (22 base62 characters); anything else is a 400 'invalid id'."""
    return len(text) == SPOTIFY_ID_LENGTH and all(char in _BASE62_INDEX for char in text)


class IdCodec:
    """Encodes and decodes every id of one catalog; the seed keys the tags and masks."""

    # (payload bits, tag bits) per id family; payload = kind (4) | owner (20) | local (rest).
    _SPOTIFY = (48, 76)  # 124 bits: 21 base62 digits, plus one check character in front
    _TICKETMASTER = (38, 26)  # 64 bits: 11 base62 digits after a kind prefix
    _MBID = (38, 84)  # 122 bits: the free bits of a version-4 UUID

    _TM_PREFIX: ClassVar[Mapping[Kind, str]] = MappingProxyType(
        {
            Kind.ATTRACTION: "K8vZ9",
            Kind.GUEST: "K8vZ9",
            Kind.EVENT: "vvG1",
            Kind.VENUE: "KovZ",
        }
    )

    def __init__(self, seed: int) -> None:
        self._key = hashlib.blake2b(f"theset-sim/{seed}".encode(), digest_size=32).digest()

    def _hash(self, domain: bytes, value: int, bits: int) -> int:
        digest = hashlib.blake2b(
            domain + value.to_bytes(16, "big"), key=self._key, digest_size=16
        ).digest()
        return int.from_bytes(digest, "big") & ((1 << bits) - 1)

    def _seal(self, family: tuple[int, int], kind: Kind, owner: int, local: int) -> int:
        payload_bits, tag_bits = family
        local_bits = payload_bits - 4 - _OWNER_BITS
        if not (0 <= owner < 1 << _OWNER_BITS and 0 <= local < 1 << local_bits):
            raise ValueError(f"owner {owner} or local {local} out of range for this id family")
        payload = (int(kind) << (payload_bits - 4)) | (owner << local_bits) | local
        tag = self._hash(b"tag", payload, tag_bits)
        mask = self._hash(b"mask", tag, payload_bits)
        return (tag << payload_bits) | (payload ^ mask)

    def _open(self, family: tuple[int, int], sealed: int) -> Decoded | None:
        payload_bits, tag_bits = family
        if sealed >> (payload_bits + tag_bits):
            return None
        tag = sealed >> payload_bits
        payload = (sealed & ((1 << payload_bits) - 1)) ^ self._hash(b"mask", tag, payload_bits)
        if self._hash(b"tag", payload, tag_bits) != tag:
            return None
        local_bits = payload_bits - 4 - _OWNER_BITS
        try:
            kind = Kind(payload >> (payload_bits - 4))
        except ValueError:
            return None
        owner = (payload >> local_bits) & ((1 << _OWNER_BITS) - 1)
        return Decoded(kind, owner, payload & ((1 << local_bits) - 1))

    # --- Spotify -------------------------------------------------------------------------

    def spotify(self, kind: Kind, owner: int, local: int = 0) -> str:
        sealed = self._seal(self._SPOTIFY, kind, owner, local)
        check = BASE62[self._hash(b"check", sealed, 32) % 62]
        return check + _base62(sealed, SPOTIFY_ID_LENGTH - 1)

    def decode_spotify(self, text: str) -> Decoded | None:
        """What a Spotify id names, or None when it names nothing (well-formed or not)."""
        if not is_spotify_id(text):
            return None
        sealed = _from_base62(text[1:])
        if sealed is None or BASE62[self._hash(b"check", sealed, 32) % 62] != text[0]:
            return None
        return self._open(self._SPOTIFY, sealed)

    # --- Ticketmaster --------------------------------------------------------------------

    def ticketmaster(self, kind: Kind, owner: int, local: int = 0) -> str:
        return self._TM_PREFIX[kind] + _base62(
            self._seal(self._TICKETMASTER, kind, owner, local), 11
        )

    def decode_ticketmaster(self, text: str) -> Decoded | None:
        for prefix in dict.fromkeys(self._TM_PREFIX.values()):
            if text.startswith(prefix) and len(text) == len(prefix) + 11:
                sealed = _from_base62(text[len(prefix) :])
                decoded = None if sealed is None else self._open(self._TICKETMASTER, sealed)
                if decoded is not None and self._TM_PREFIX.get(decoded.kind) == prefix:
                    return decoded
        return None

    # --- MusicBrainz (setlist.fm) ----------------------------------------------------------

    def mbid(self, kind: Kind, owner: int, local: int = 0) -> str:
        sealed = self._seal(self._MBID, kind, owner, local)
        # 122 bits around the UUID's fixed version (bits 76-79) and variant (bits 62-63).
        high, middle, low = sealed >> 74, (sealed >> 62) & 0xFFF, sealed & ((1 << 62) - 1)
        value = (high << 80) | (0x4 << 76) | (middle << 64) | (0b10 << 62) | low
        return str(uuid.UUID(int=value))

    def decode_mbid(self, text: str) -> Decoded | None:
        try:
            value = uuid.UUID(text).int
        except ValueError:
            return None
        if (value >> 76) & 0xF != 0x4 or (value >> 62) & 0b11 != 0b10:
            return None
        high, middle, low = value >> 80, (value >> 64) & 0xFFF, value & ((1 << 62) - 1)
        return self._open(self._MBID, (high << 74) | (middle << 62) | low)

    # --- hashes for ids nobody looks up --------------------------------------------------------

    def hex_id(self, *parts: object, length: int = 8) -> str:
        """A stable hex id (setlist.fm setlists and venues, image keys) for ``parts``."""
        digest = hashlib.blake2b(repr(parts).encode(), key=self._key, digest_size=32).hexdigest()
        return digest[:length]

    def digits(self, *parts: object, length: int) -> str:
        """Stable decimal digits (UPCs, ISRCs, Ticketmaster URL numbers) for ``parts``."""
        value = int(self.hex_id(*parts, length=32), 16)
        return str(value % 10**length).zfill(length)
