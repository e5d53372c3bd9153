"""Spotify's JSON for the simulated catalog: artist, album and track objects and their pages, as
one request sees them (absolute URLs on the host it came to) in the access mode in force."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from aiohttp import web

from theset_daemon.sim.people import ArtistProfile, Credit, Guest
from theset_daemon.sim.releases import Release, Track
from theset_daemon.sim.state import SimState
from theset_daemon.sim.words import MARKETS

Json = dict[str, Any]
EMBEDDED_TRACKS = 50  # tracks embedded in a full album object (observed ``limit=50``)


def _images(prefix: str, key: str | None) -> list[Json]:
    if key is None:
        return []
    sizes = (("b273", 640), ("1e02", 300), ("4851", 64))
    return [
        {"url": f"https://i.scdn.co/image/{prefix}{code}{key}", "height": px, "width": px}
        for code, px in sizes
    ]


class Renderer:
    """Spotify JSON for catalog objects, for one request (its base URL) in one mode."""

    def __init__(self, request: web.Request, state: SimState) -> None:
        self.base = f"{request.scheme}://{request.host}/v1"
        self.mode = state.spotify_mode
        self.extended = self.mode == "extended"

    def url(self, path: str, params: Sequence[tuple[str, object]] = ()) -> str:
        if not params:
            return f"{self.base}{path}"
        query = "&".join(f"{name}={quote(str(value), safe=',')}" for name, value in params)
        return f"{self.base}{path}?{query}"

    def _links(self, kind: str, spotify_id: str) -> Json:
        return {
            "external_urls": {"spotify": f"https://open.spotify.com/{kind}/{spotify_id}"},
            "href": self.url(f"/{kind}s/{spotify_id}"),
            "id": spotify_id,
        }

    def artist_ref(self, credit: Credit) -> Json:
        return {
            **self._links("artist", credit.spotify_id),
            "name": credit.name,
            "type": "artist",
            "uri": f"spotify:artist:{credit.spotify_id}",
        }

    def artist(self, who: ArtistProfile | Guest | Credit) -> Json:
        if isinstance(who, ArtistProfile):
            genres, popularity, followers = list(who.genres), who.popularity, who.followers
            images = _images("ab6761610000", who.image_key)
        elif isinstance(who, Guest):
            genres, popularity, followers = [], who.popularity, who.followers
            images = _images("ab6761610000", who.image_key)
        else:
            genres, popularity, followers, images = [], 0, 0, []
        body: Json = {**self._links("artist", who.spotify_id)}
        if self.extended:
            body["followers"] = {"href": None, "total": followers}
        body |= {"genres": genres, "images": images, "name": who.name}
        if self.extended:
            body["popularity"] = popularity
        body |= {"type": "artist", "uri": f"spotify:artist:{who.spotify_id}"}
        return body

    def album(self, release: Release, *, with_group: bool = False) -> Json:
        """SimplifiedAlbumObject (plus ``album_group`` in an artist's album list)."""
        body: Json = {"album_type": release.album_type, "total_tracks": len(release.tracks)}
        if self.extended:
            body["available_markets"] = list(MARKETS)
        body |= {
            **self._links("album", release.spotify_id),
            "images": _images("ab67616d0000", release.image_key),
            "name": release.name,
            "release_date": release.release_date,
            "release_date_precision": release.precision,
            "type": "album",
            "uri": f"spotify:album:{release.spotify_id}",
            "artists": [self.artist_ref(credit) for credit in release.artists],
        }
        if with_group and self.extended:
            body["album_group"] = release.album_group
        return body

    def full_album(self, release: Release) -> Json:
        year = release.release_date[:4]
        body = self.album(release)
        body["tracks"] = self.track_page(release, 0, EMBEDDED_TRACKS)
        body["copyrights"] = [
            {"text": f"\u00a9 {year} {release.label}", "type": "C"},
            {"text": f"\u2117 {year} {release.label}", "type": "P"},
        ]
        body["external_ids"] = {"upc": release.upc}
        body["genres"] = []
        if self.extended:
            body["label"] = release.label
            body["popularity"] = release.popularity
        return body

    def track(self, track: Track, *, full: bool = False) -> Json:
        body: Json = {}
        if full:
            body["album"] = self.album(track.release)
        body["artists"] = [self.artist_ref(credit) for credit in track.artists]
        if self.extended:
            body["available_markets"] = list(MARKETS)
        body |= {"disc_number": track.disc_number, "duration_ms": track.duration_ms}
        body["explicit"] = track.explicit
        if full:
            body["external_ids"] = {"isrc": track.isrc}
        body |= self._links("track", track.spotify_id)
        body["name"] = track.name
        if full and self.extended:
            body["popularity"] = track.popularity
        body |= {
            "preview_url": None,
            "track_number": track.track_number,
            "type": "track",
            "uri": f"spotify:track:{track.spotify_id}",
            "is_local": False,
        }
        return body

    def page(
        self,
        path: str,
        extra: Sequence[tuple[str, object]],
        items: list[Json],
        offset: int,
        limit: int,
        total: int,
    ) -> Json:
        def link(at: int) -> str:
            return self.url(path, [("offset", at), ("limit", limit), *extra])

        return {
            "href": link(offset),
            "limit": limit,
            "next": link(offset + limit) if offset + limit < total else None,
            "offset": offset,
            "previous": link(max(0, offset - limit)) if offset > 0 else None,
            "total": total,
            "items": items,
        }

    def track_page(self, release: Release, offset: int, limit: int) -> Json:
        chosen = release.tracks[offset : offset + limit]
        return self.page(
            f"/albums/{release.spotify_id}/tracks",
            (),
            [self.track(t) for t in chosen],
            offset,
            limit,
            len(release.tracks),
        )
