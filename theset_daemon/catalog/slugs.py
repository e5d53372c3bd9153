"""URL slugs for artists, venues and shows: lower-case ASCII words joined by hyphens.

Slugs are what people type and share, so they are folded the way they would type them ("Sigur
Rós" -> ``sigur-ros``, "AC/DC" -> ``ac-dc``, "&" -> ``and``), never empty (a database CHECK
forbids a blank slug, and a name in a script with no ASCII folding must still get a page), and at
most :data:`MAX_SLUG_LENGTH` characters, cut at a word boundary. Uniqueness is the store's job: it
appends a piece of an upstream id when a slug is taken.
"""

from __future__ import annotations

import datetime as dt

from theset_daemon.catalog.text import fold

MAX_SLUG_LENGTH = 100


def slugify(name: str, *, fallback: str = "artist", max_length: int = MAX_SLUG_LENGTH) -> str:
    """The slug of ``name``; ``fallback`` when nothing of it folds to ASCII letters or digits."""
    slug = _cut(fold(name).replace(" ", "-"), max_length)
    return slug or _cut(fold(fallback).replace(" ", "-"), max_length) or "x"


def venue_slug(name: str, city: str | None = None) -> str:
    """``<name>-<city>``, the city left out when unknown or already ending the name
    ("Brixton Academy", "London" -> ``brixton-academy-london``)."""
    name_slug = slugify(name, fallback="venue")
    city_slug = slugify(city, fallback="") if city else ""
    if not city_slug or city_slug == "x" or name_slug.endswith(city_slug):
        return name_slug
    return _join([name_slug, city_slug], MAX_SLUG_LENGTH)


def show_slug(artist_name: str, venue_name: str | None, date: dt.date) -> str:
    """``<artist>-<venue>-<yyyy-mm-dd>``: the date always whole, the names sharing what is left."""
    day = date.isoformat()
    room = MAX_SLUG_LENGTH - len(day) - 2  # two hyphens
    parts = [slugify(artist_name)]
    if venue_name:
        venue = slugify(venue_name, fallback="")
        if venue and venue != "x":
            parts.append(venue)
    if len(parts) == 1:
        return f"{_cut(parts[0], MAX_SLUG_LENGTH - len(day) - 1)}-{day}"
    return f"{_join(parts, room + 1)}-{day}"


def _join(parts: list[str], max_length: int) -> str:
    """Join slugs with "-", giving each an equal share of ``max_length`` and any share a shorter
    one leaves unused to the others."""
    budget = max_length - (len(parts) - 1)
    out: list[str] = []
    for position, part in enumerate(parts):
        share = budget // (len(parts) - position)
        piece = _cut(part, share)
        out.append(piece)
        budget -= len(piece)
    return "-".join(piece for piece in out if piece)


def _cut(slug: str, max_length: int) -> str:
    if len(slug) <= max_length:
        return slug
    head = slug[:max_length]
    if slug[max_length] != "-" and "-" in head:
        head = head.rsplit("-", 1)[0]  # whole words only
    return head.strip("-")
