"""An artist's own row as Spotify describes it: one mapping for the import and every sync."""

from __future__ import annotations

from theset_daemon.catalog import best_image_url
from theset_daemon.db import catalog as store
from theset_daemon.upstream.spotify import Artist


def artist_row(artist: Artist, ticketmaster_id: str | None = None) -> store.ArtistRow:
    """The columns Spotify's artist object fills; popularity and followers are None where the
    API mode does not report them (then the stored values are kept)."""
    return store.ArtistRow(
        name=artist.name,
        spotify_id=artist.id,
        ticketmaster_id=ticketmaster_id,
        image_url=best_image_url(artist.images),
        genres=tuple(artist.genres),
        popularity=artist.popularity,
        followers=artist.followers.total if artist.followers else None,
    )
