"""The three phases of an artist import, as functions of (upstreams, database, job).

Phase 1 resolves the artist upstream and upserts its row; it runs inside the HTTP request.
Phase 2 stores shows and venues from Ticketmaster; phase 3 the song catalog from Spotify; each
upcoming show gets a predicted setlist. Phases 2 and 3 are the catalog refresh the jobs use too
(``theset_daemon.refresh``, where the rules are), so a resumed job simply runs its unfinished
phases again.

A failure of one album batch or one events query is isolated: the phase stores what it got and
reports a warning. Every events query failing fails the shows phase; every album batch failing
fails the songs phase (it stored nothing: an import "complete" without songs would mislead).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

from theset_daemon import refresh
from theset_daemon.db import catalog as store
from theset_daemon.upstream.clients import Upstreams
from theset_daemon.upstream.errors import UpstreamNotFound
from theset_daemon.upstream.request_class import answering, interactive
from theset_daemon.upstream.spotify import Artist
from theset_daemon.upstream.ticketmaster import name_key


class ArtistNotFound(Exception):
    """No upstream artist matches the request."""


class NothingRead(Exception):
    """The artist lists releases, and not one of them could be read."""


@dataclass(frozen=True, slots=True)
class ImportRequest:
    spotify_id: str | None = None
    ticketmaster_id: str | None = None
    name: str | None = None

    def as_json(self) -> dict[str, str]:
        fields = {
            "spotifyId": self.spotify_id,
            "ticketmasterId": self.ticketmaster_id,
            "name": self.name,
        }
        return {k: v for k, v in fields.items() if v is not None}


@dataclass(slots=True)
class PhaseResult:
    warnings: list[str] = field(default_factory=list)
    albums: int = 0  # releases the artist has on Spotify (phase 3)


# --- phase 1 -----------------------------------------------------------------------------------


async def resolve_artist(up: Upstreams, request: ImportRequest) -> tuple[Artist, str | None]:
    """The Spotify artist for the request, and the Ticketmaster attraction id when given."""
    with answering():  # the import's HTTP answer waits on these: first in line
        return await _resolve(up, request)


async def _resolve(up: Upstreams, request: ImportRequest) -> tuple[Artist, str | None]:
    if request.spotify_id:
        try:
            return await up.spotify.artist(request.spotify_id), None
        except UpstreamNotFound:
            raise ArtistNotFound(f"no Spotify artist {request.spotify_id}") from None
    if request.ticketmaster_id:
        try:
            attraction = await up.ticketmaster.attraction(request.ticketmaster_id)
        except UpstreamNotFound:
            raise ArtistNotFound(f"no Ticketmaster attraction {request.ticketmaster_id}") from None
        return await _search_one(up, attraction.name), attraction.id
    assert request.name is not None
    return await _search_one(up, request.name), None


async def _search_one(up: Upstreams, name: str) -> Artist:
    found = await up.spotify.search_artists(name, limit=5)
    if not found:
        raise ArtistNotFound(f"no Spotify artist matches {name!r}")
    wanted = name_key(name)
    exact = [a for a in found if name_key(a.name) == wanted]
    return (exact or found)[0]


def artist_row(artist: Artist, ticketmaster_id: str | None) -> store.ArtistRow:
    return refresh.artist_row(artist, ticketmaster_id)


# --- phases 2 and 3: the catalog refresh -------------------------------------------------------


async def import_shows(
    up: Upstreams, pool: asyncpg.Pool, artist_id: UUID, artist_name: str
) -> PhaseResult:
    with interactive():
        shows = await refresh.refresh_shows(up, pool, artist_id, artist_name)
    return PhaseResult(warnings=shows.warnings)


async def import_songs(
    up: Upstreams, pool: asyncpg.Pool, artist_id: UUID, spotify_id: str
) -> PhaseResult:
    with interactive():
        songs = await refresh.refresh_discography(up, pool, artist_id, spotify_id)
    if songs.nothing_read:
        raise NothingRead("; ".join(songs.warnings))
    return PhaseResult(warnings=songs.warnings, albums=songs.releases_listed)
