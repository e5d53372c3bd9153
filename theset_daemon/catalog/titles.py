"""Title rules: the key duplicates merge under, and whether a track is live or a remix.

A track title is a base ("Paper Moon") plus optional suffixes, either after a spaced dash
("- Remastered 2011", "- Live at Wembley", "- DJ Owl Remix") or in brackets ("(feat. X)",
"[Explicit]", "(Live)"). The rules only ever look at the suffixes, never at the base, which is
what keeps "Live and Let Die", "Live Forever" or "Remixes Are Fun" from being read as markers.

- **Version markers** (remaster, deluxe/edition/bonus, radio/single edit, explicit/clean, album
  version, mono/stereo) are suffixes made only of version words (:data:`_MARKER_WORDS`) with at
  least one that says "version" on its own (:data:`_STRONG_MARKERS`). They are dropped from the
  key. A suffix with any other word ("Acoustic Version", "Taylor's Version", "Live / Remastered")
  is a different recording and stays, minus its marker parts.
- **Featured credits** ("(feat. X)", "(with X)", "[ft. X]", a bare " feat. X") are dropped: the
  song is the same whoever is credited next to the artist.
- **Live**: a suffix whose first word is "live", alone or followed by a word that names a
  performance ("at", "from", "in", "on", "version", a year ...), or "unplugged" / "in concert";
  or a track on a live album ("Live at ...", "Live in ...", "... (Live)", "MTV Unplugged").
- **Remix**: a suffix naming a remix, rework, dub or a named mix ("Club Mix"); "Original Mix" and
  "Stereo Mix" are not remixes.
"""

from __future__ import annotations

import re
import unicodedata

from theset_daemon.catalog.text import fold

_BRACKETED = re.compile(r"\s*[\(\[]([^\(\)\[\]]*)[\)\]]")
_DASH = re.compile(r"\s+[-\u2013\u2014]\s+")
# Parts of one suffix: "Live / Remastered 2011", "2011 Remaster; Mono".
_PARTS = re.compile(r"\s*[/;,|]\s*")
# "Song feat. X" without brackets, up to the next suffix. "feat" needs its dot here: "A Feat of
# Strength" is a title.
_BARE_FEATURED = re.compile(
    r"\s+(?:feat\.|ft\.|featuring)\s+[^\(\)\[\]]*?(?=\s+[-\u2013\u2014]\s+|\s*[\(\[]|$)",
    re.IGNORECASE,
)
_FEATURED_WORDS = frozenset({"feat", "ft", "featuring", "with"})

# Words a version marker is made of. Numbers (years, "25th") are allowed too.
_STRONG_MARKERS = frozenset(
    {
        "remaster", "remastered", "deluxe", "edition", "bonus", "edit", "explicit", "clean",
        "mono", "stereo", "version",
    }
)  # fmt: skip
_MARKER_WORDS = _STRONG_MARKERS | frozenset(
    {
        "digital", "digitally", "anniversary", "expanded", "special", "super", "legacy",
        "collectors", "collector", "track", "tracks", "radio", "single", "album", "original",
        "lp", "the", "and", "reissue", "reissued", "mix",
    }
)  # fmt: skip
_NUMBER = re.compile(r"\d+(?:st|nd|rd|th|s)?")

# What may follow "live" at the start of a suffix for it to mean a live recording.
_LIVE_NEXT = frozenset(
    {
        "at", "from", "in", "on", "version", "recording", "recordings", "session", "sessions",
        "acoustic", "edit", "with", "remaster", "remastered", "mono", "stereo", "bbc", "radio",
        "bonus", "track", "take", "performance", "unplugged", "mix",
    }
)  # fmt: skip
_LIVE_ALBUM_NEXT = frozenset({"at", "from", "in", "on"})

_REMIX_WORDS = frozenset(
    {"remix", "remixed", "remixes", "rmx", "rework", "reworked", "dub", "mashup", "bootleg"}
)
# "<word> Mix" that names a version of the original, not a remix.
_NOT_REMIX_MIX = frozenset({"original", "album", "single", "radio", "mono", "stereo", "main"})


def normalize_title(title: str) -> str:
    """The key under which studio duplicates merge: folded (case, accents, punctuation), with
    version markers and featured credits dropped; remix names and live markers kept.

    >>> normalize_title("Paper Moon (feat. DJ Owl) - Remastered 2011")
    'paper moon'
    >>> normalize_title("Paper Moon - DJ Owl Remix")
    'paper moon dj owl remix'
    """
    text = _BARE_FEATURED.sub("", unicodedata.normalize("NFKC", title).strip())
    text = _BRACKETED.sub(_keep_bracketed, text)
    head, *tails = _DASH.split(text)
    kept = [head, *(rest for rest in map(_without_markers, tails) if rest)]
    # A title made only of markers ("(Remastered)") keeps them rather than vanish.
    return fold(" - ".join(kept)) or fold(title)


def is_live(title: str, album_name: str | None = None, album_type: str | None = None) -> bool:
    """Whether the track is a live recording: by a live suffix on its title, or by its release
    being a live album (by name, or an ``album_type`` of "live" where a source has one)."""
    if any(_is_live_suffix(suffix) for suffix in _suffixes(title)):
        return True
    if album_type is not None and album_type.casefold() == "live":
        return True
    return album_name is not None and _is_live_album(album_name)


def is_remix(title: str) -> bool:
    """Whether the track is a remix (a song of its own): "- X Remix", "(X Remix)", "(Remixed by
    X)", "(Club Mix)", "(Dub)", ...; never because of the base title ("Remixes Are Fun")."""
    return any(_is_remix_suffix(suffix) for suffix in _suffixes(title))


def song_key(title: str, *, live: bool, track_id: str) -> str:
    """The dedup key of a track within one artist's catalog.

    Studio tracks and remixes key by :func:`normalize_title`, so their duplicates merge. A live
    recording keys by its own track id (``live:<track_id>``): it never merges with the studio
    song, and two live recordings of a song (two albums, both titled "Song (Live)") stay two
    songs. Normalised titles never contain ":", so the two kinds of key cannot collide.
    """
    return f"live:{track_id}" if live else normalize_title(title)


# --- suffixes ----------------------------------------------------------------------------------


def _suffixes(title: str) -> list[str]:
    """Every suffix of the title: the bracketed groups and what follows each spaced dash, each
    split into its parts ("Live / Remastered 2011" -> "Live", "Remastered 2011")."""
    text = unicodedata.normalize("NFKC", title).strip()
    groups = [match.group(1) for match in _BRACKETED.finditer(text)]
    _head, *tails = _DASH.split(_BRACKETED.sub("", text))
    return [part for suffix in (*groups, *tails) for part in _PARTS.split(suffix) if part]


def _words(text: str) -> list[str]:
    return fold(text).split()


def _is_marker(text: str) -> bool:
    words = _words(text)
    if not words or not any(word in _STRONG_MARKERS for word in words):
        return False
    if "mix" in words and not {"mono", "stereo"} & set(words):
        return False  # "Single Mix" is a mix, not a version label
    return all(word in _MARKER_WORDS or _NUMBER.fullmatch(word) for word in words)


def _is_featured(text: str) -> bool:
    words = _words(text)
    return len(words) > 1 and words[0] in _FEATURED_WORDS


def _without_markers(suffix: str) -> str:
    """The suffix minus its marker and featured parts ("Live / Remastered 2011" -> "Live")."""
    parts = [p for p in _PARTS.split(suffix) if p and not (_is_marker(p) or _is_featured(p))]
    return " / ".join(parts)


def _keep_bracketed(match: re.Match[str]) -> str:
    rest = _without_markers(match.group(1))
    return f" ({rest})" if rest else ""


def _is_live_suffix(suffix: str) -> bool:
    words = _words(suffix)
    if not words:
        return False
    if words[0] == "recorded" and words[1:2] == ["live"]:
        return True
    if words[0] == "live":
        return len(words) == 1 or words[1] in _LIVE_NEXT or _NUMBER.fullmatch(words[1]) is not None
    return "unplugged" in words or _has_phrase(words, ("in", "concert"))


def _is_live_album(name: str) -> bool:
    words = _words(name)
    if words[:1] == ["live"] and (len(words) == 1 or words[1] in _LIVE_ALBUM_NEXT):
        return True  # "Live", "Live at Wembley", "Live in Tokyo", "Live from Brixton"
    if "unplugged" in words or _has_phrase(words, ("in", "concert")):
        return True
    return any(_is_live_suffix(suffix) for suffix in _suffixes(name))


def _is_remix_suffix(suffix: str) -> bool:
    words = _words(suffix)
    if any(word in _REMIX_WORDS for word in words):
        return True
    for position, word in enumerate(words):
        if word == "mix" and position > 0 and words[position - 1] not in _NOT_REMIX_MIX:
            return True  # "Club Mix", "Extended Mix", "DJ Owl Mix"
    return False


def _has_phrase(words: list[str], phrase: tuple[str, ...]) -> bool:
    size = len(phrase)
    return any(tuple(words[i : i + size]) == phrase for i in range(len(words) - size + 1))
