"""The base of every settings section, and the check every base URL setting shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Frozen, and an unknown key is an error (``check-config`` names it)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def http_url(url: str) -> str:
    """A field validator: an http(s) URL, kept without its trailing slash."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{url!r} is not an http(s) URL")
    return url.rstrip("/")
