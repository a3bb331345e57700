"""Free-text questions: match typed text to a flow or to the profile's FAQ answers.

``for_profile(name).match(text)`` returns the candidates (``Match``); ``answer(id,
locale)`` the FAQ answer to show. ``check_folder`` validates a folder of answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from core.errors import ConfigurationError
from core.faq.check import check_folder, intents_of, structure_problems
from core.faq.entries import FaqEntry, Problem, faq_folder, read_folder
from core.faq.flows import flow_intents, flow_intents_names
from core.faq.matcher import Candidate, Intent, Match, Matcher

__all__ = [
    "Candidate",
    "Faq",
    "FaqEntry",
    "FaqFolderError",
    "Intent",
    "Match",
    "Matcher",
    "Problem",
    "check_folder",
    "faq_folder",
    "flow_intents_names",
    "for_profile",
    "load_faq",
]


class FaqFolderError(ConfigurationError):
    """An FAQ folder has files the bot cannot serve; raised at start-up."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class Faq:
    """A profile's answers with the matcher over them and every flow's examples."""

    matcher: Matcher
    entries: Mapping[str, Mapping[str, FaqEntry]] = field(default_factory=dict)

    def match(self, text: str) -> Match:
        return self.matcher.match(text)

    def answer(self, entry_id: str, locale: str) -> FaqEntry | None:
        """The answer in ``locale`` (or in the other language if it has only that one)."""
        by_locale = self.entries.get(entry_id, {})
        return by_locale.get(locale) or next(iter(by_locale.values()), None)


def load_faq(folder: Path | None) -> Faq:
    """The answers in ``folder`` (none when it is None or absent) and the flows' examples.

    A file the bot cannot serve (bad front matter, a missing language, a duplicate id)
    raises FaqFolderError naming it; colliding examples do not stop the start, but
    ``check_folder`` reports them.
    """
    entries, problems = read_folder(folder) if folder is not None else ([], [])
    problems += structure_problems(entries)
    if problems:
        raise FaqFolderError(problems)
    by_id: dict[str, dict[str, FaqEntry]] = {}
    for entry in entries:
        by_id.setdefault(entry.id, {})[entry.locale] = entry
    return Faq(Matcher([*flow_intents(), *intents_of(entries)]), by_id)


@cache
def for_profile(profile: str) -> Faq:
    """The FAQ of a shipped profile by name (``demo``), loaded once per process."""
    return load_faq(faq_folder(profile))
