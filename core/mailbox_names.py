"""Mailbox names generated from the passport English name (seed 004).

Seed 004: "The available names are automatically generated from your English name on
passport". Passport style puts the family name first: "Lin Ming-Zhi" offers
ming-zhi.lin, mingzhi.lin, mzlin, linmz, lin.mingzhi, ...; a name already taken in the
directory is never offered.
"""

from __future__ import annotations

import re
import unicodedata

NAME = re.compile(r"^[a-z][a-z0-9.-]{1,40}[a-z0-9]$")


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in folded if ch.isascii()).lower()


def candidates(name_en: str) -> list[str]:
    """Every name the seed's scheme gives for a passport-style name, best first."""
    words = [w for w in re.split(r"[\s,]+", _ascii(name_en)) if w]
    if not words:
        return []
    family = re.sub(r"[^a-z]", "", words[0])
    given_parts = [p for w in words[1:] for p in re.split(r"[-']", w) if p]
    given_parts = [re.sub(r"[^a-z]", "", p) for p in given_parts]
    given_parts = [p for p in given_parts if p]
    if not family or not given_parts:
        return [family] if family and NAME.match(family) else []
    hyphenated = "-".join(given_parts)
    joined = "".join(given_parts)
    initials = "".join(p[0] for p in given_parts)
    options = [
        f"{hyphenated}.{family}",
        f"{joined}.{family}",
        f"{initials}{family}",
        f"{family}{initials}",
        f"{family}.{joined}",
        f"{initials}.{family}",
        f"{joined}{family}",
        f"{family}{joined}",
    ]
    seen: list[str] = []
    for option in options:
        if NAME.match(option) and option not in seen:
            seen.append(option)
    return seen


def free_names(name_en: str, taken: set[str], *, limit: int = 6) -> list[str]:
    """Up to ``limit`` names not in ``taken``; numbered ones when all are taken."""
    free = [name for name in candidates(name_en) if name not in taken][:limit]
    base = candidates(name_en)
    n = 2
    while len(free) < min(limit, 3) and base and n < 100:
        for name in base[:3]:
            numbered = f"{name}{n}"
            if numbered not in taken and numbered not in free and NAME.match(numbered):
                free.append(numbered)
        n += 1
    return free[:limit]
