"""Cleaning what users type before anything reads it."""

from __future__ import annotations

import unicodedata

from core.text import normalise

# Telegram's own limit for a message; anything longer is not a real answer.
MAX_INPUT_CHARS = 4096


def clean_input(text: str) -> str:
    """Drop control characters and cut absurdly long input; keep newlines."""
    text = text[:MAX_INPUT_CHARS]
    return "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    ).strip()


def looks_like_password(text: str) -> bool:
    """A message shaped like a pasted password: one word, 8-64 characters, 3+ classes.

    ID numbers (letter + digits), student IDs, dates and addresses have fewer classes
    or an '@', so they are not mistaken for one.
    """
    text = normalise(text)
    if not 8 <= len(text) <= 64 or any(ch.isspace() for ch in text) or "@" in text:
        return False
    if text.startswith(("/", "http://", "https://")):
        return False
    classes = (
        any(ch.isupper() for ch in text),
        any(ch.islower() for ch in text),
        any(ch.isdigit() for ch in text),
        # Separators of IDs and dates (A-123456789, 1996/01/02) are not symbols here.
        any(not ch.isalnum() and ch not in "-./" for ch in text),
    )
    return sum(classes) >= 3


def in_language(text: str, locale: str) -> str:
    """The part of a two-language staff text (a suspension reason, a notice) in ``locale``.

    Staff write such texts once in both languages: "中文 / English" on one line, or one
    paragraph per language. A part with Chinese characters is Chinese, any other part
    English; a text with no part in ``locale`` is returned whole.
    """
    text = text.strip()
    if "\n\n" in text:
        parts, joiner = [p.strip() for p in text.split("\n\n") if p.strip()], "\n\n"
    else:
        parts, joiner = [p.strip() for p in text.split(" / ") if p.strip()], " / "
    wanted = locale.startswith("zh")
    kept = [part for part in parts if _has_han(part) == wanted]
    return joiner.join(kept) if kept and len(kept) < len(parts) else text


def _has_han(text: str) -> bool:
    return any(unicodedata.name(ch, "").startswith("CJK UNIFIED IDEOGRAPH") for ch in text)
