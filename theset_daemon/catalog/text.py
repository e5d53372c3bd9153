"""Text folding shared by slugs and title keys: case, accents and punctuation made irrelevant."""

from __future__ import annotations

import re
import unicodedata

# Letters NFKD leaves whole, spelled the way people type them without the key. Applied after
# casefold (which already turns "ß" into "ss").
_UNDECOMPOSABLE = str.maketrans(
    {"þ": "th", "æ": "ae", "œ": "oe", "ø": "o", "ð": "d", "đ": "d", "ł": "l", "\u0131": "i"}
)
# Apostrophes join ("Guns N' Roses" -> "guns n roses", "Zoë's" -> "zoes"), they never split.
_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`\u00b4]")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Lower-case ASCII words separated by single spaces; "&" reads as "and".

    >>> fold("Sigur Rós & Guns N' Roses")
    'sigur ros and guns n roses'
    """
    plain = text.casefold().translate(_UNDECOMPOSABLE)
    if not plain.isascii():  # ASCII has nothing to decompose: most names skip the per-char pass
        decomposed = unicodedata.normalize("NFKD", plain)
        plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    plain = _APOSTROPHES.sub("", plain.replace("&", " and "))
    return _NON_WORD.sub(" ", plain).strip()
