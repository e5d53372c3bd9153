"""Table-driven cases for each catalog rule, the tricky ones from issue 5 included."""

from __future__ import annotations

import datetime as dt

import pytest

from theset_daemon.catalog import (
    TrackCandidate,
    best_image_url,
    choose_canonical,
    is_live,
    is_remix,
    normalize_title,
    release_date,
    show_slug,
    slugify,
    song_key,
    trending_score,
    venue_slug,
)

# --- slugs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Sigur Rós", "sigur-ros"),
        ("AC/DC", "ac-dc"),
        ("Guns N' Roses", "guns-n-roses"),
        ("Guns N\u2019 Roses", "guns-n-roses"),
        ("Mumford & Sons", "mumford-and-sons"),
        ("Mötley Crüe", "motley-crue"),
        ("Þögn Sæla", "thogn-saela"),
        ("Straße", "strasse"),
        ("Søren Ångström", "soren-angstrom"),
        ("Panic! at the Disco", "panic-at-the-disco"),
        ("  The   Velvet Meridians  ", "the-velvet-meridians"),
        ("Zoë's Café #3", "zoes-cafe-3"),
        ("blink-182", "blink-182"),
        ("東京事変", "artist"),
        ("!!!", "artist"),
        ("", "artist"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_slugify_fallback_and_length() -> None:
    assert slugify("★", fallback="venue") == "venue"
    long = slugify("word " * 60)
    assert len(long) <= 100 and long.endswith("word") and not long.endswith("-")
    assert slugify("a" * 300) == "a" * 100


@pytest.mark.parametrize(
    ("name", "city", "slug"),
    [
        ("Brixton Academy", "London", "brixton-academy-london"),
        ("O2 Academy Brixton", None, "o2-academy-brixton"),
        ("Roxy Theatre Los Angeles", "Los Angeles", "roxy-theatre-los-angeles"),
        ("Théâtre du Châtelet", "Paris", "theatre-du-chatelet-paris"),
        ("★", "Oslo", "venue-oslo"),
    ],
)
def test_venue_slug(name: str, city: str | None, slug: str) -> None:
    assert venue_slug(name, city) == slug


@pytest.mark.parametrize(
    ("artist", "venue", "slug"),
    [
        ("Sigur Rós", "Brixton Academy", "sigur-ros-brixton-academy-2026-03-07"),
        ("AC/DC", None, "ac-dc-2026-03-07"),
        ("AC/DC", "★", "ac-dc-2026-03-07"),
    ],
)
def test_show_slug(artist: str, venue: str | None, slug: str) -> None:
    assert show_slug(artist, venue, dt.date(2026, 3, 7)) == slug


def test_show_slug_keeps_the_date_whole_when_names_are_long() -> None:
    slug = show_slug("artist " * 40, "venue " * 40, dt.date(2026, 3, 7))
    assert len(slug) <= 100 and slug.endswith("-2026-03-07")
    assert "artist" in slug and "venue" in slug


# --- titles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "Paper Moon",
        "paper moon",
        "Paper Moon - Remastered 2011",
        "Paper Moon - 2011 Remaster",
        "Paper Moon - Remastered",
        "Paper Moon (Remastered)",
        "Paper Moon (Remastered 2011)",
        "Paper Moon [2011 Remaster]",
        "Paper Moon - 2011 Remastered Version",
        "Paper Moon - Digitally Remastered 1999",
        "Paper Moon - 25th Anniversary Edition",
        "Paper Moon (Deluxe Edition)",
        "Paper Moon (Deluxe)",
        "Paper Moon - Bonus Track",
        "Paper Moon - Radio Edit",
        "Paper Moon (Single Edit)",
        "Paper Moon - Edit",
        "Paper Moon (Explicit)",
        "Paper Moon [Clean]",
        "Paper Moon (Album Version)",
        "Paper Moon - Single Version",
        "Paper Moon (Mono)",
        "Paper Moon - Stereo",
        "Paper Moon - 2009 Stereo Mix",
        "Paper Moon - Remastered 2015 / Mono",
        "Paper Moon (feat. DJ Owl)",
        "Paper Moon (ft. DJ Owl & MC Raven)",
        "Paper Moon [feat. DJ Owl]",
        "Paper Moon (with DJ Owl)",
        "Paper Moon (featuring DJ Owl)",
        "Paper Moon feat. DJ Owl",
        "Paper Moon ft. DJ Owl",
        "Paper Moon (feat. DJ Owl) - Remastered 2011",
        "Paper Moon feat. DJ Owl - Radio Edit",
        "Paper Moon - Radio Edit (Explicit)",
        "Pa\u0301per Moo\u0301n",
        "Paper Moon!",
    ],
)
def test_variants_of_a_studio_song_share_its_key(variant: str) -> None:
    assert normalize_title(variant) == "paper moon"
    assert song_key(variant, live=False, track_id="x") == "paper moon"


@pytest.mark.parametrize(
    ("one", "two"),
    [
        ("Paper Moon", "Paper Moon - DJ Owl Remix"),
        ("Paper Moon", "Paper Moon (DJ Owl Remix)"),
        ("Paper Moon - DJ Owl Remix", "Paper Moon - MC Raven Remix"),
        ("Paper Moon", "Paper Moon (Club Mix)"),
        ("Paper Moon", "Paper Moon (Live)"),
        ("Paper Moon", "Paper Moon - Live at Wembley"),
        ("Paper Moon (Live)", "Paper Moon - Live at Wembley"),
        ("Paper Moon", "Paper Moon (Acoustic Version)"),
        ("Paper Moon", "Paper Moon (Taylor's Version)"),
        ("Paper Moon", "Paper Moon Pt. 2"),
        ("Paper Moon", "Paper Moons"),
        ("A Feat of Strength", "A"),
        ("Live and Let Die", "Die"),
    ],
)
def test_different_songs_keep_different_keys(one: str, two: str) -> None:
    assert normalize_title(one) != normalize_title(two)


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("Live and Let Die - 2018 Remaster", "live and let die"),
        ("Song - Live / Remastered 2011", "song live"),
        ("Song (Live at Wembley) [Remastered]", "song live at wembley"),
        ("Song - DJ Owl Remix (feat. MC Raven)", "song dj owl remix"),
        ("Rock & Roll", "rock and roll"),
        ("Café #3", "cafe 3"),
        ("(Remastered)", "remastered"),  # a title of markers only keeps them
        ("A Feat of Strength", "a feat of strength"),
        ("Dancing with Myself", "dancing with myself"),
        ("Part 1 - The Beginning", "part 1 the beginning"),
    ],
)
def test_normalize_title(title: str, key: str) -> None:
    assert normalize_title(title) == key


@pytest.mark.parametrize(
    ("title", "album_name", "album_type", "live"),
    [
        ("Song (Live)", None, None, True),
        ("Song [Live]", None, None, True),
        ("Song - Live", None, None, True),
        ("Song - Live at Wembley", None, None, True),
        ("Song (Live at Wembley)", None, None, True),
        ("Song - Live from Brixton Academy", None, None, True),
        ("Song - Live in Tokyo, 1999", None, None, True),
        ("Song - Live 1985", None, None, True),
        ("Song - Live Version", None, None, True),
        ("Song - Live / Remastered 2011", None, None, True),
        ("Song (Recorded Live at the Fillmore)", None, None, True),
        ("Song - MTV Unplugged", None, None, True),
        ("Song (Live and Let Die)", None, None, False),
        ("Live and Let Die", None, None, False),
        ("Live and Let Die - 2018 Remaster", None, None, False),
        ("Live Forever", None, None, False),
        ("Live Forever - Remastered", None, None, False),
        ("Alive", None, None, False),
        ("Live Wire", None, None, False),
        ("Live to Tell", None, None, False),
        ("Oliver", None, None, False),
        ("Deliverance", None, None, False),
        ("Live from the Underground", None, None, False),
        ("Song", "Live at Copperline Music Hall, Chicago", "album", True),
        ("Song", "Live in Tokyo", "album", True),
        ("Song", "Live from Brixton", "album", True),
        ("Song", "Greatest Hits (Live)", "album", True),
        ("Song", "Greatest Hits - Live", "album", True),
        ("Song", "MTV Unplugged in New York", "album", True),
        ("Song", "Live", "album", True),
        ("Song", "Greatest Hits", "live", True),
        ("Song", "Live Forever", "album", False),
        ("Song", "Live Through This", "album", False),
        ("Song", "Alive", "album", False),
        ("Song", "Greatest Hits", "compilation", False),
    ],
)
def test_is_live(title: str, album_name: str | None, album_type: str | None, live: bool) -> None:
    assert is_live(title, album_name, album_type) is live


@pytest.mark.parametrize(
    ("title", "remix"),
    [
        ("Song - DJ Owl Remix", True),
        ("Song (DJ Owl Remix)", True),
        ("Song [DJ Owl Remix]", True),
        ("Song - Remixed", True),
        ("Song (Remixed by DJ Owl)", True),
        ("Song (Club Mix)", True),
        ("Song - Extended Mix", True),
        ("Song (Dub)", True),
        ("Song - Dub Version", True),
        ("Song - DJ Owl Rework", True),
        ("Song (DJ Owl Remix) [feat. MC Raven]", True),
        ("Song", False),
        ("Remixes Are Fun", False),
        ("Remix", False),
        ("Mix Tape", False),
        ("Song (Original Mix)", False),
        ("Song - 2009 Stereo Mix", False),
        ("Song - Radio Edit", False),
        ("Song (Live)", False),
        ("Dubai Nights", False),
    ],
)
def test_is_remix(title: str, remix: bool) -> None:
    assert is_remix(title) is remix


@pytest.mark.parametrize(
    ("title", "live", "track_id", "key"),
    [
        ("Paper Moon - Remastered 2011", False, "t1", "paper moon"),
        ("Paper Moon (Live)", True, "t2", "live:t2"),
        ("Paper Moon - Live at Wembley", True, "t3", "live:t3"),
        ("Paper Moon", True, "t4", "live:t4"),  # on a live album, no marker in the title
        ("Paper Moon - DJ Owl Remix", False, "t5", "paper moon dj owl remix"),
    ],
)
def test_song_key(title: str, live: bool, track_id: str, key: str) -> None:
    assert song_key(title, live=live, track_id=track_id) == key


# --- the dedup choice -------------------------------------------------------------------------


def track(track_id: str, title: str = "Song", **fields: object) -> TrackCandidate:
    base: dict[str, object] = {
        "album_type": "album",
        "album_name": "Record",
        "release_date": "2001-05-01",
        "popularity": None,
        "explicit": False,
    }
    base.update(fields)
    return TrackCandidate(track_id, title, **base)  # type: ignore[arg-type]


ORIGINAL = track("z-original")


@pytest.mark.parametrize(
    ("candidates", "kept"),
    [
        # The most popular wins whatever else it is.
        ([ORIGINAL, track("a", "Song - Remastered 2011", popularity=80)], "a"),
        ([track("a", popularity=10), track("b", album_type="compilation", popularity=60)], "b"),
        # Known popularity beats unknown.
        ([track("a", popularity=0), track("b", popularity=None)], "a"),
        # Without popularity (or on a tie): the studio original.
        ([ORIGINAL, track("a", "Song - Remastered 2011")], "z-original"),
        ([ORIGINAL, track("a", album_name="Record (Remastered 2011)")], "z-original"),
        ([ORIGINAL, track("a", "Song - Radio Edit", album_type="single")], "z-original"),
        ([ORIGINAL, track("a", album_name="Record (Deluxe Edition)")], "z-original"),
        ([ORIGINAL, track("a", album_type="single", release_date="2001-02-01")], "z-original"),
        ([ORIGINAL, track("a", album_type="compilation")], "z-original"),
        ([track("a", album_type="single"), track("b", album_type="compilation")], "a"),
        # A bonus track's original is its deluxe edition, not a later compilation.
        (
            [
                track("a", album_name="Record (Deluxe Edition)"),
                track("b", album_type="compilation", release_date="2010"),
            ],
            "a",
        ),
        # The original single beats a remastered album.
        (
            [
                track("a", album_type="single"),
                track("b", "Song - Remastered", album_name="Record (Remastered)"),
            ],
            "a",
        ),
        # Earliest release; year precision is the year's first day; unknown last.
        ([track("a", release_date="2005"), track("b", release_date="2003-12-31")], "b"),
        ([track("a", release_date="2003"), track("b", release_date="2003-06")], "a"),
        ([track("a", release_date=None), track("b", release_date="2020-01-01")], "b"),
        ([track("a", release_date=dt.date(1999, 1, 2)), track("b", release_date="2000")], "a"),
        # Explicit over clean, only when all else is equal.
        ([track("a", explicit=False), track("b", explicit=True)], "b"),
        ([track("a", explicit=False, popularity=50), track("b", explicit=True)], "a"),
        # Popularity ties fall through to the original.
        ([track("a", album_type="single", popularity=40), track("b", popularity=40)], "b"),
        # Final tie-break by track id, whatever the input order.
        ([track("b"), track("a")], "a"),
        # Never a live recording for a studio song, however popular.
        ([ORIGINAL, track("a", "Song (Live)", popularity=100)], "z-original"),
        ([ORIGINAL, track("a", album_name="Live at Wembley", popularity=100)], "z-original"),
    ],
)
def test_choose_canonical(candidates: list[TrackCandidate], kept: str) -> None:
    assert choose_canonical(candidates).track_id == kept
    assert choose_canonical(list(reversed(candidates))).track_id == kept


def test_choose_canonical_returns_the_candidate_itself_and_refuses_none() -> None:
    candidates = [track("a"), track("b")]
    assert choose_canonical(candidates) is candidates[0]
    with pytest.raises(ValueError):
        choose_canonical([])


@pytest.mark.parametrize(
    ("fields", "remaster", "deluxe", "edit"),
    [
        ({"title": "Song - 2011 Remaster"}, True, False, False),
        ({"album_name": "Record (Remastered 2011)"}, True, False, False),
        ({"album_name": "Record (Deluxe Edition)"}, False, True, False),
        ({"album_name": "Record (25th Anniversary Expanded)"}, False, True, False),
        ({"title": "Song - Radio Edit"}, False, False, True),
        ({"title": "Song (Clean)"}, False, False, True),
        ({}, False, False, False),
    ],
)
def test_candidate_flags(fields: dict[str, str], remaster: bool, deluxe: bool, edit: bool) -> None:
    candidate = TrackCandidate(
        track_id="t", title=fields.get("title", "Song"), album_name=fields.get("album_name")
    )
    assert (candidate.is_remaster, candidate.is_deluxe, candidate.is_edit) == (
        remaster,
        deluxe,
        edit,
    )


# --- releases: the date and the image kept --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("1999-06-17", dt.date(1999, 6, 17)),
        ("1999-06", dt.date(1999, 6, 1)),  # month precision: its first day
        ("1999", dt.date(1999, 1, 1)),  # year precision: 1 January
        (" 2004-02-29 ", dt.date(2004, 2, 29)),
        ("2003-02-29", None),  # no such day
        ("0000", None),  # Spotify's placeholder for an unknown year
        ("unknown", None),
        ("", None),
        (None, None),
    ],
)
def test_release_date(text: str | None, day: dt.date | None) -> None:
    assert release_date(text) == day


class _Image:
    def __init__(self, url: str, width: int | None = None) -> None:
        self.url, self.width = url, width


@pytest.mark.parametrize(
    ("widths", "expected"),
    [
        ((640, 300, 64), 640),
        ((64, 300, 640), 640),  # order does not matter
        ((1000, 300, 64), 300),  # the largest that fits, not the largest
        ((1200, 900), 900),  # nothing fits: the narrowest
        ((), None),
    ],
)
def test_best_image(widths: tuple[int, ...], expected: int | None) -> None:
    images = [_Image(f"u{w}", w) for w in widths]
    assert best_image_url(images) == (f"u{expected}" if expected is not None else None)


def test_best_image_without_sizes_takes_the_first() -> None:
    assert best_image_url([_Image("a"), _Image("b")]) == "a"


# --- trending ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "score"),
    [
        ((0, 0, 0, 0, 0, None), 0.0),
        ((0, 0, 0, 0, 0, 100), 50.0),
        ((1, 1, 0, 0, 0, None), 4.0),  # a vote today
        ((0, 1, 0, 0, 0, None), 1.0),  # a vote earlier this week
        ((0, 0, 1, 0, 0, None), 2.0),
        ((0, 0, 0, 10, 0, None), 1.0),
        ((0, 0, 0, 0, 3, None), 15.0),
        ((0, 0, 0, 0, 40, None), 50.0),  # capped at 10 shows
        ((-5, -5, -1, -1, -1, -1), 0.0),
        ((2, 5, 3, 100, 2, 60), 6 + 5 + 6 + 10 + 10 + 30),
    ],
)
def test_trending_score(inputs: tuple[int, int, int, int, int, int | None], score: float) -> None:
    assert trending_score(*inputs) == pytest.approx(score)


def test_fresh_activity_outranks_popularity_alone() -> None:
    quiet_star = trending_score(0, 0, 0, 0, 0, 90)
    busy_newcomer = trending_score(10, 12, 2, 50, 1, 20)
    assert busy_newcomer > quiet_star
