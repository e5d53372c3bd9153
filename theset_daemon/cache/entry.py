"""One cached document: its value, its JSON bytes and their ETag, computed once when it is stored.

Values are JSON-shaped (dict, list, str, int, float, bool, None): what goes into Redis is their
JSON encoding and what comes back is what :func:`json.loads` gives, so a value read from either tier
looks the same. Treat a value as read-only: the memory tier hands the same object to every reader.

Keeping the bytes and the ETag with the value is what makes a memory hit cheap for the read routes:
they send ``data`` as it is, and answer ``If-None-Match`` by comparing two strings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

_WIRE_VERSION = b"1"
_NEGATIVE = b"n"
_POSITIVE = b"-"


@dataclass(frozen=True, slots=True)
class Entry:
    value: Any
    #: ``value`` encoded as compact UTF-8 JSON: what Redis holds and what a read route sends.
    data: bytes
    #: Strong validator of ``data`` (quoted, as the ``ETag`` header wants it).
    etag: str
    #: Tags of the key this document was stored under (see ``keys.py``).
    tags: tuple[str, ...] = ()
    #: An empty, not-found or throttled answer: kept for a short negative TTL only.
    negative: bool = False


def encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def etag_of(data: bytes) -> str:
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


def make_entry(value: Any, tags: tuple[str, ...] = (), *, negative: bool = False) -> Entry:
    data = encode(value)
    return Entry(value, data, etag_of(data), tags, negative)


def to_wire(entry: Entry) -> bytes:
    """Redis value: ``1`` + flag + space + comma-separated tags + newline + the JSON bytes."""
    flag = _NEGATIVE if entry.negative else _POSITIVE
    tags = ",".join(entry.tags).encode()
    return _WIRE_VERSION + flag + b" " + tags + b"\n" + entry.data


def from_wire(raw: bytes) -> Entry | None:
    """The entry a Redis value holds, or None when it is not one we can read (then: a miss)."""
    header, sep, data = raw.partition(b"\n")
    if not sep or len(header) < 3 or header[:1] != _WIRE_VERSION or header[2:3] != b" ":
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return None
    tags = tuple(header[3:].decode().split(",")) if len(header) > 3 else ()
    return Entry(value, data, etag_of(data), tags, header[1:2] == _NEGATIVE)
