"""How the catalog reads a release: its date and the one image it stores.

Spotify dates a release to the year, the month or the day ("1999", "1999-06", "1999-06-01");
:func:`release_date` reads all three as a day. Every release, artist and profile image is chosen
by :func:`best_image_url`, so the album art an import stores and the art a sync stores never
differ.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

#: 640 px is what a phone's full-width cover needs; anything larger is bytes nobody sees.
IMAGE_MAX_WIDTH_PX = 640


class SizedImage(Protocol):
    """An image as a provider lists it (Spotify sends 640, 300 and 64 px of each)."""

    @property
    def url(self) -> str: ...

    @property
    def width(self) -> int | None: ...


def release_date(text: str | None) -> dt.date | None:
    """The day a release came out: a year alone counts as its 1 January, a month as its first
    day; empty or malformed text is unknown (None)."""
    if not text:
        return None
    parts = text.strip().split("-")
    try:
        return dt.date(
            int(parts[0]),
            int(parts[1]) if len(parts) > 1 else 1,
            int(parts[2]) if len(parts) > 2 else 1,
        )
    except (ValueError, IndexError):
        return None


def best_image_url(
    images: Sequence[SizedImage], max_width_px: int = IMAGE_MAX_WIDTH_PX
) -> str | None:
    """The image to store: the largest no wider than ``max_width_px``; when every image is
    wider, the narrowest; an image of unknown width only when none has one (then the first, the
    order the provider ranks them in)."""
    sized = [(i.width, i) for i in images if i.width is not None]
    if not sized:
        return images[0].url if images else None
    fitting = [(width, i) for width, i in sized if width <= max_width_px]
    if fitting:
        return max(fitting, key=lambda pair: pair[0])[1].url
    return min(sized, key=lambda pair: pair[0])[1].url
