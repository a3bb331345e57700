"""Validate an FAQ folder before the bot serves it (``helpdesk faq check``)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from core.faq.entries import FaqEntry, Problem, read_folder
from core.faq.flows import flow_intents
from core.faq.matcher import Intent, Matcher
from core.i18n import LOCALES
from core.text import fold


def structure_problems(entries: list[FaqEntry]) -> list[Problem]:
    """Duplicate ids, ids that name a flow, answers missing a language."""
    problems: list[Problem] = []
    flows = {intent.key for intent in flow_intents()}
    seen: dict[tuple[str, str], FaqEntry] = {}
    locales: dict[str, dict[str, FaqEntry]] = defaultdict(dict)
    for entry in entries:
        if entry.id in flows:
            problems.append(Problem(str(entry.path), f"id '{entry.id}' is the name of a flow"))
        first = seen.setdefault((entry.id, entry.locale), entry)
        if first is not entry:
            problems.append(
                Problem(str(entry.path), f"duplicate id '{entry.id}' (also in {first.path.name})")
            )
        locales[entry.id].setdefault(entry.locale, entry)
    for entry_id, by_locale in locales.items():
        for locale in LOCALES:
            if locale not in by_locale:
                some = next(iter(by_locale.values()))
                problems.append(Problem(str(some.path), f"no {locale} version of '{entry_id}'"))
    return problems


def intents_of(entries: list[FaqEntry]) -> list[Intent]:
    """One intent per answer id, with the examples and keywords of all its languages."""
    examples: dict[str, list[str]] = defaultdict(list)
    keywords: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        examples[entry.id].extend(entry.examples)
        keywords[entry.id].extend(entry.keywords)
    return [Intent("faq", key, tuple(examples[key]), tuple(keywords[key])) for key in examples]


def collisions(entries: list[FaqEntry], matcher: Matcher) -> list[Problem]:
    """Examples that two intents share, and examples the matcher routes elsewhere.

    Both directions count: an answer's example that starts a flow, and a flow's example
    that would be answered by this FAQ instead of starting the flow.
    """
    problems: list[Problem] = []
    owner: dict[str, str] = {}
    for intent in flow_intents():
        for example in intent.examples:
            owner.setdefault(fold(example), f"flow '{intent.key}'")
    files = {entry.id: str(entry.path) for entry in entries}
    for entry in entries:
        for example in entry.examples:
            label = f"answer '{entry.id}'"
            other = owner.setdefault(fold(example), label)
            if other != label:
                problems.append(
                    Problem(str(entry.path), f"example {example!r} is also an example of {other}")
                )
                continue
            best = matcher.match(example).best
            if best is None:
                problems.append(Problem(str(entry.path), f"example {example!r} matches nothing"))
            elif (best.kind, best.key) != ("faq", entry.id):
                problems.append(
                    Problem(
                        str(entry.path),
                        f"example {example!r} is matched to {best.kind} '{best.key}'",
                    )
                )
    for intent in flow_intents():
        for example in intent.examples:
            best = matcher.match(example).best
            if best is not None and best.kind == "faq":
                problems.append(
                    Problem(
                        files.get(best.key, best.key),
                        f"flow '{intent.key}' example {example!r} is answered by '{best.key}'",
                    )
                )
    return problems


def check_folder(folder: Path) -> list[Problem]:
    """Everything wrong with the answers in ``folder``; an empty list when it is fine."""
    if not folder.is_dir():
        return [Problem(str(folder), "no such folder")]
    entries, problems = read_folder(folder)
    problems += structure_problems(entries)
    matcher = Matcher([*flow_intents(), *intents_of(entries)])
    problems += collisions(entries, matcher)
    return problems
