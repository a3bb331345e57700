"""Each flow's example questions, read from ``flows.toml`` beside this module."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from core.faq.matcher import Intent

FLOWS_FILE = Path(__file__).resolve().parent / "flows.toml"


@cache
def flow_intents() -> tuple[Intent, ...]:
    """One intent per flow name, with its examples in both languages and its keywords."""
    raw = tomllib.loads(FLOWS_FILE.read_text(encoding="utf-8"))
    return tuple(
        Intent(
            "flow",
            name,
            examples=(*fields.get("zh_TW", ()), *fields.get("en", ())),
            keywords=tuple(fields.get("keywords", ())),
        )
        for name, fields in raw.items()
    )


def flow_intents_names() -> list[str]:
    """The flow names the examples cover."""
    return [intent.key for intent in flow_intents()]
