"""The generated world, without HTTP: determinism, unique names, ids, and the ground truth."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter

import pytest

from theset_daemon.sim.catalog import Catalog
from theset_daemon.sim.ids import IdCodec, Kind
from theset_daemon.sim.names import normalize
from theset_daemon.sim.people import tier_of
from theset_daemon.sim.releases import COUNTED_GROUPS, Discography
from theset_daemon.sim.setlists import generated_updates_end
from theset_daemon.sim.shows import utc

TODAY = dt.date(2026, 11, 28)


def fingerprint(catalog: Catalog, index: int) -> tuple[object, ...]:
    songs = catalog.discography(index)
    return (
        catalog.profile(index),
        [
            (r.spotify_id, r.name, r.release_date, [t.name for t in r.tracks])
            for r in songs.releases
        ],
        [(e.ticketmaster_id, e.name, e.start, e.status) for e in catalog.events(index)],
        [(s.id, s.date, s.sets) for s in catalog.setlists(index)],
        catalog.counts(index),
    )


def test_same_seed_same_world_and_another_seed_another() -> None:
    one, two = Catalog(1, 300, today=TODAY), Catalog(1, 300, today=TODAY)
    other = Catalog(2, 300, today=TODAY)
    for index in (0, 1, 7, 123, 299):
        assert fingerprint(one, index) == fingerprint(two, index)
        assert one.profile(index).name != other.profile(index).name
        assert one.profile(index).spotify_id != other.profile(index).spotify_id
    assert fingerprint(one, 0) != fingerprint(other, 0)


def test_eviction_regenerates_the_same_artist() -> None:
    small_cache = Catalog(1, 50, today=TODAY, cache_size=1)
    before = fingerprint(small_cache, 5)
    fingerprint(small_cache, 6)  # evicts artist 5
    assert fingerprint(small_cache, 5) == before


def test_ten_thousand_artists_start_instantly() -> None:
    started = time.perf_counter()
    catalog = Catalog(1, 10_000, today=TODAY)
    catalog.profile(9_999)
    assert time.perf_counter() - started < 0.1


def test_names_are_unique_and_varied() -> None:
    catalog = Catalog(3, 4000, today=TODAY)
    names = [catalog.profile(index).name for index in range(4000)]
    assert len(set(names)) == len(names)
    assert len({normalize(name) for name in names}) == len(names)
    assert any(not name.isascii() for name in names)  # "Sigur Rós"-like
    assert any("/" in name for name in names)  # "AC/DC"-like
    assert any("N' " in name for name in names)  # "Guns N' Roses"-like
    assert any(name.startswith("The ") for name in names)
    assert any("&" in name or "!" in name for name in names)
    doppelgangers = [i for i in range(4000) if catalog.profile(i).doppelganger_of is not None]
    assert doppelgangers
    for index in doppelgangers:
        assert names[index].startswith(names[index - 1] + " ")
    sort_names = {catalog.profile(i).sort_name for i in range(20) if names[i].startswith("The ")}
    assert all(s.endswith(", The") for s in sort_names)


def test_ids_decode_to_their_owner_and_strangers_do_not() -> None:
    codec = IdCodec(1)
    artist_id = codec.spotify(Kind.ARTIST, 42)
    assert len(artist_id) == 22 and artist_id.isalnum()
    decoded = codec.decode_spotify(artist_id)
    assert decoded is not None and (decoded.kind, decoded.owner) == (Kind.ARTIST, 42)
    assert IdCodec(2).decode_spotify(artist_id) is None  # another seed's id: valid-looking, unknown
    assert codec.decode_spotify("0" * 22) is None
    assert codec.decode_spotify(artist_id[:-1]) is None
    event = codec.decode_ticketmaster(codec.ticketmaster(Kind.EVENT, 7, 3))
    assert event is not None and (event.kind, event.owner, event.local) == (Kind.EVENT, 7, 3)
    mbid = codec.mbid(Kind.ARTIST, 9)
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", mbid
    )
    assert codec.decode_mbid(mbid) == codec.decode_spotify(codec.spotify(Kind.ARTIST, 9))


# --- ground truth ---------------------------------------------------------------------------------

_EDIT = re.compile(r" - (Remastered \d{4}|Radio Edit)$")


def _is_live_title(name: str) -> bool:
    return name.endswith(" (Live)") or " - Live at " in name


def recount(songs: Discography) -> dict[str, int]:
    """Counts from the labels alone, the way CONTRACT.md section 8 defines them."""
    counted = [t for t in songs.tracks if t.release.album_group in COUNTED_GROUPS]
    assert all(t.counted for t in counted)
    live = [t for t in counted if t.live]
    studio = [t for t in counted if not t.live]
    assert len({t.song_key for t in live}) == len(live), "a live recording appears twice"
    copies = Counter(t.song_key for t in studio)
    assert sum(t.duplicate for t in studio) == sum(n - 1 for n in copies.values())
    return {
        "albums": sum(1 for r in songs.releases if r.album_group in COUNTED_GROUPS),
        "tracks": len(counted),
        "live_tracks": len(live),
        "duplicate_tracks": sum(n - 1 for n in copies.values()),
    }


@pytest.mark.parametrize("seed", [1, 99])
def test_counts_are_the_generators_own_bookkeeping(seed: int) -> None:
    catalog = Catalog(seed, 120, today=TODAY)
    for index in range(120):
        counts = catalog.counts(index).as_json()
        assert recount(catalog.discography(index)) == {
            key: counts[key] for key in ("albums", "tracks", "live_tracks", "duplicate_tracks")
        }


def test_titles_carry_what_a_title_based_import_needs() -> None:
    """Normalising titles (dropping "- Remastered YYYY" and "- Radio Edit", live by "(Live)" or
    "- Live at") finds exactly the songs the ground truth says a correct import stores."""
    catalog = Catalog(1, 80, today=TODAY)
    for index in range(80):
        songs = catalog.discography(index)
        counts = catalog.counts(index)
        counted = [t for t in songs.tracks if t.release.album_group in COUNTED_GROUPS]
        live_titles = [t.name for t in counted if _is_live_title(t.name)]
        assert len(live_titles) == len(set(live_titles)) == counts.live_tracks
        assert all(t.live == _is_live_title(t.name) for t in counted)
        by_title: dict[str, set[int]] = {}
        for track in counted:
            if not track.live:
                by_title.setdefault(_EDIT.sub("", track.name).casefold(), set()).add(track.song_key)
        assert all(len(keys) == 1 for keys in by_title.values()), "one title, two songs"
        assert len(by_title) == counts.tracks - counts.duplicate_tracks - counts.live_tracks


def test_a_big_artist_needs_paging_and_has_every_kind_of_release() -> None:
    catalog = Catalog(1, 30, today=TODAY)
    assert tier_of(0) == "big"
    songs = catalog.discography(0)
    counted = [r for r in songs.releases if r.album_group in COUNTED_GROUPS]
    assert len(counted) > 50
    assert max(len(r.tracks) for r in counted) > 50
    versions = Counter(t.version for t in songs.tracks if t.counted)
    assert {"studio", "repeat", "remaster", "live", "remix"} <= set(versions)
    names = [r.name for r in songs.releases]
    assert any(name.endswith("(Deluxe Edition)") for name in names)
    assert any("(Remastered " in name for name in names)
    assert any(name.startswith("Live at ") for name in names)
    assert {r.album_type for r in counted} == {"album", "single", "compilation"}
    assert any(len(t.artists) > 1 for t in songs.tracks if t.counted)  # featured artists
    assert any(r.album_group == "appears_on" for r in songs.releases)
    everyone = [catalog.discography(i) for i in range(30)]
    all_versions = {t.version for s in everyone for t in s.tracks if t.counted}
    assert {"radio_edit", "clean"} <= all_versions
    twins = [
        t
        for s in everyone
        for t in s.tracks
        if t.version == "clean"
        and any(o.song_key == t.song_key and o.explicit for o in s.tracks if o.counted)
    ]
    assert twins, "explicit and clean versions of one song"


def test_shows_and_setlists_have_the_awkward_cases() -> None:
    catalog = Catalog(1, 60, today=TODAY)
    events = [e for i in range(60) for e in catalog.events(i)]
    assert {e.status for e in events} >= {"onsale", "canceled", "postponed", "rescheduled"}
    assert all(e.start is None for e in events if e.status == "postponed")
    assert all(e.start is not None and e.start.date() > TODAY for e in events if e.start)
    assert any(e.supports for e in events)
    assert any(not e.venue.has_state for e in events)
    assert all(isinstance(e.venue.latitude, str) for e in events)
    assert any(not catalog.events(i) for i in range(60))
    setlists = [s for i in range(60) for s in catalog.setlists(i)]
    assert all(s.date < TODAY for s in setlists)
    assert any(not s.sets for s in setlists)
    assert any(part.encore == 2 for s in setlists for part in s.sets)
    songs = [song for s in setlists for part in s.sets for song in part.songs]
    assert any(song.tape for song in songs)
    assert any(song.cover for song in songs)
    assert any(song.with_ for song in songs)


def test_additions_are_replayed_and_counted() -> None:
    catalog = Catalog(1, 20, today=TODAY, cache_size=2)
    before = catalog.counts(5)
    catalog.change(5, albums=2, shows=3, now=dt.datetime.combine(TODAY, dt.time(9), dt.UTC))
    after = catalog.counts(5)
    added = catalog.discography(5).releases[-2:]
    assert [r.release_date for r in added] == [TODAY.isoformat()] * 2
    assert after.albums == before.albums + 2
    assert after.tracks == before.tracks + sum(len(r.tracks) for r in added)
    assert after.duplicate_tracks == before.duplicate_tracks
    assert after.upcoming_shows == before.upcoming_shows + 3
    snapshot = fingerprint(catalog, 5)
    fingerprint(catalog, 6)
    fingerprint(catalog, 7)  # artist 5 evicted, then made again with its additions
    assert fingerprint(catalog, 5) == snapshot


def test_the_schedule_is_the_generated_setlists_dates_and_update_times() -> None:
    catalog = Catalog(1, 60, today=TODAY)
    end = generated_updates_end(TODAY)
    checked = 0
    for index in range(60):
        schedule = catalog.setlist_schedule(index)
        setlists = catalog.setlists(index)
        assert [s.date for s in setlists] == list(schedule.dates)
        assert [s.last_updated for s in setlists] == list(schedule.updated)
        for day, updated in zip(schedule.dates, schedule.updated, strict=True):
            assert day < updated.date() and updated < end  # edited after the show, before today
        checked += len(setlists)
    assert checked > 300


ADDED_AT = dt.datetime(2026, 11, 28, 1, 30, tzinfo=dt.UTC)  # still the 27th in the Americas


def test_changes_replay_the_same_after_eviction_and_in_another_catalog() -> None:
    one, two = Catalog(1, 50, today=TODAY, cache_size=1), Catalog(1, 50, today=TODAY)
    for catalog in (one, two):
        catalog.change(3, now=ADDED_AT, albums=1, shows=2, setlists=40, cancel=3)
    before = fingerprint(one, 3)
    fingerprint(one, 4)  # evicts artist 3
    assert fingerprint(one, 3) == before == fingerprint(two, 3)
    assert sum(e.status == "canceled" for e in one.events(3)) >= 3


def test_played_shows_are_over_distinct_and_one_fact_on_both_providers() -> None:
    catalog = Catalog(1, 50, today=TODAY)
    own_venues = {event.venue.index for event in catalog.events(0)}
    change = catalog.change(0, now=ADDED_AT, setlists=30)
    events = {event.ticketmaster_id: event for event in catalog.events(0)}
    played = [events[event_id] for event_id in change.played_event_ids]
    setlists = {setlist.id: setlist for setlist in catalog.setlists(0)}
    shows = set()
    for setlist_id, event in zip(change.setlist_ids, played, strict=True):
        assert event.start is not None and utc(event.start, event.venue) < ADDED_AT
        assert event.status == "offsale"
        setlist = setlists[setlist_id]
        assert setlist.date == event.start.date()
        assert ADDED_AT.date() - dt.timedelta(days=4) <= setlist.date < ADDED_AT.date()
        assert (setlist.venue.name, setlist.venue.city) == (event.venue.name, event.venue.city)
        assert setlist.last_updated == ADDED_AT and setlist.sets
        shows.add((setlist.date, event.venue.index))
    assert len(shows) == 30
    assert {e.venue.index for e in played} <= own_venues  # ten a day: the artist's own venues
    assert catalog.counts(0).past_setlists == len(setlists)
    assert catalog.played_artists() == [0]
