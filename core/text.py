"""The one normaliser for what people type: full-width to ASCII, invisible marks removed.

Chinese keyboards type full-width letters and digits ("Ａ１２３"), phones put direction
marks around Latin text in a Chinese UI, and text pasted from web pages and word
processors carries zero-width characters. Every reader of typed input (ID numbers,
birthdays, codes, names, menu labels) starts from ``normalise``.
"""

from __future__ import annotations

import re
import unicodedata

# Zero-width characters (U+200B-U+200D, U+2060, U+FEFF), the soft hyphen, and the
# direction marks and embeddings (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069). All are
# Unicode category Cf ("format"); naming them keeps the set stable across Unicode versions.
INVISIBLE = (
    "\u200b\u200c\u200d\u2060\ufeff\u00ad"
    "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_DROP_INVISIBLE = str.maketrans(dict.fromkeys(INVISIBLE, None))

# Dashes other than "-" that people use between groups of digits ("1996–01–02").
DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_DASHES_TO_HYPHEN = str.maketrans(dict.fromkeys(DASHES, "-"))


def normalise(text: str, *, dashes: bool = False) -> str:
    """NFKC (full-width to ASCII, U+3000 to a space), then no invisible format marks.

    With ``dashes`` every dash-like character becomes "-". Callers cut absurdly long
    input before calling: NFKC is linear, but there is no reason to run it over an essay.
    """
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text.translate(_DROP_INVISIBLE) if unicodedata.category(ch) != "Cf")
    return text.translate(_DASHES_TO_HYPHEN) if dashes else text


def fold(text: str) -> str:
    """Compare form: normalised, whitespace collapsed, case-folded."""
    return " ".join(normalise(text).split()).casefold()


def text_parts(text: str, limit: int = 1200) -> list[str]:
    """Split a long text into parts at paragraph (or sentence) boundaries, losing nothing."""
    parts: list[str] = []
    current = ""
    for paragraph in [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]:
        pieces = [paragraph]
        if len(paragraph) > limit:
            pieces = [s for s in re.split(r"(?<=[.。!！?？；;])\s*", paragraph) if s]
        for piece in pieces:
            while len(piece) > limit:  # a single sentence over the limit: cut, keep all
                parts.append(piece[:limit])
                piece = piece[limit:]
            joined = f"{current}\n\n{piece}" if current else piece
            if len(joined) > limit and current:
                parts.append(current)
                current = piece
            else:
                current = joined
    if current:
        parts.append(current)
    return parts
