"""The catalog's domain rules: slugs, title normalisation, live and remix detection, the dedup
choice, release dates, the image kept and the trending score. Pure functions of their arguments,
no I/O, so every rule has a table of cases next to it (``tests/catalog/``) and the importer, the
sync jobs and the cleanup all apply the same rules.

Why the rules are what they are:

- **A song is what a fan votes for.** A remaster, a deluxe-edition copy, a compilation repeat, a
  radio or single edit, a clean or explicit twin and a "(feat. X)" credit are all the *same* song
  for a setlist, so they merge under :func:`normalize_title`.
- **A remix is a different song** (different producer, different arrangement, a different thing to
  vote for), so its remixer stays in the key.
- **A live recording is never the studio song** and two live recordings are two songs
  (CONTRACT.md section 8: each is stored once and flagged live), so :func:`song_key` keys a live
  track by its own track id.
- **"Live" is a marker, not a word.** Only a suffix ("- Live", "(Live at Wembley)") or a live
  album ("Live at ...", "... (Live)") makes a recording live; "Live and Let Die", "Live Forever"
  and "Alive" are studio songs.
- **The version kept** among duplicates is the one fans know best (most popular), else the studio
  original (see :func:`choose_canonical`).
"""

from theset_daemon.catalog.dedup import TrackCandidate, choose_canonical
from theset_daemon.catalog.releases import best_image_url, release_date
from theset_daemon.catalog.slugs import show_slug, slugify, venue_slug
from theset_daemon.catalog.titles import is_live, is_remix, normalize_title, song_key
from theset_daemon.catalog.trending import trending_score

__all__ = [
    "TrackCandidate",
    "best_image_url",
    "choose_canonical",
    "is_live",
    "is_remix",
    "normalize_title",
    "release_date",
    "show_slug",
    "slugify",
    "song_key",
    "trending_score",
    "venue_slug",
]
