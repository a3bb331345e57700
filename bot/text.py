"""Cleaning what users type before anything reads it."""

from __future__ import annotations

import unicodedata

# Telegram's own limit for a message; anything longer is not a real answer.
MAX_INPUT_CHARS = 4096


def clean_input(text: str) -> str:
    """Drop control characters and cut absurdly long input; keep newlines."""
    text = text[:MAX_INPUT_CHARS]
    return "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    ).strip()


def fold(text: str) -> str:
    """Compare form: full-width to ASCII, no invisible format marks, case-folded."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(text.split()).casefold()
