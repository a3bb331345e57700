"""Match what a user typed to a flow or an FAQ answer, with a confidence.

Ranking is BM25 (bm25s) over each intent's example questions and keywords, in both
languages at once, so a question in English, Chinese or a mix of them finds its intent
whatever language the chat is in. English words the index does not know are corrected to
the nearest word it does (rapidfuzz), so "pasword" and "eduraom" still match.

The confidence is how much of the question the best intent accounts for: the share of
the question's units (words, Chinese characters), weighted by how rare each is among the
intents, that occur in the intent's examples. BM25 alone cannot say this: its scores grow
with the question's length and have no scale.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import bm25s  # type: ignore[import-untyped]
import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from core.faq.tokens import tokenise, words

# bm25s sets its own logger to DEBUG at import, which prints index building on every
# terminal; let it follow the level the application configured instead.
logging.getLogger("bm25s").setLevel(logging.NOTSET)

Kind = Literal["flow", "faq"]

# Tuned on tests/data/questions/: below THRESHOLD the bot offers the menu and a person;
# a second intent whose BM25 score is within CLOSE of the best one is offered beside it.
THRESHOLD = 0.55
CLOSE = 0.85
MAX_SUGGESTIONS = 3


@dataclass(frozen=True)
class Intent:
    """Something a question can be about: a flow to start or an FAQ answer to show."""

    kind: Kind
    key: str
    examples: tuple[str, ...]
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    kind: Kind
    key: str
    confidence: float


@dataclass(frozen=True)
class Match:
    """The intents a question may be about, best first; empty when none is likely enough.

    One candidate: act on it. Two or more: ask "did you mean ...?" with a button each.
    None: offer the menu and a person.
    """

    candidates: tuple[Candidate, ...] = ()

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


class Matcher:
    """An index over intents; ``match`` answers in well under a millisecond."""

    def __init__(
        self,
        intents: Sequence[Intent],
        *,
        threshold: float = THRESHOLD,
        close: float = CLOSE,
    ) -> None:
        self.intents = tuple(intents)
        self.threshold = threshold
        self.close = close
        documents = [_document(intent) for intent in self.intents]
        self._index = bm25s.BM25(k1=1.2, b=0.4)
        if documents:
            self._index.index(documents, show_progress=False)
        self._units = [frozenset(document) for document in documents]
        frequency = Counter(term for terms in self._units for term in terms)
        count = len(documents)
        self._idf = {
            term: math.log(1 + (count - n + 0.5) / (n + 0.5)) for term, n in frequency.items()
        }
        # A unit no intent knows counts like a typical one: it may be a typo or filler,
        # but a question made mostly of unknown units is about something else.
        self._unknown_weight = float(np.median(list(self._idf.values()))) if self._idf else 1.0
        self._words = sorted(
            {word for intent in self.intents for text in _texts(intent) for word in words(text)}
        )
        self._known_words = frozenset(self._words)

    def match(self, text: str) -> Match:
        """The candidates for ``text`` (see ``Match``)."""
        tokens = tokenise(text, self._nearest)
        known = [term for term in tokens.terms if term in self._idf]
        if not known or not tokens.units:
            return Match()
        scores = self._index.get_scores(known)
        order = np.argsort(-scores, kind="stable")[:MAX_SUGGESTIONS]
        top = float(scores[order[0]])
        if top <= 0:
            return Match()
        candidates: list[Candidate] = []
        for position in order:
            score = float(scores[position])
            if score <= 0 or score < self.close * top:
                break
            confidence = self._coverage(tokens.units, self._units[position])
            if confidence >= self.threshold:
                intent = self.intents[position]
                candidates.append(Candidate(intent.kind, intent.key, round(confidence, 3)))
            elif not candidates:
                break  # the best intent explains too little of the question
        return Match(tuple(candidates))

    def _coverage(self, units: Iterable[str], document: frozenset[str]) -> float:
        found = total = 0.0
        for unit in units:
            weight = self._idf.get(unit, self._unknown_weight) * (2 if unit.isascii() else 1)
            total += weight
            if unit in document:
                found += weight
        return found / total if total else 0.0

    def _nearest(self, word: str) -> str:
        """The known word nearest to an English word the index does not know."""
        if word in self._known_words or word.isdigit() or len(word) < 4:
            return word
        if len(word) == 4:  # short words: one typed letter wrong, missing or extra
            near = process.extractOne(
                word, self._words, scorer=Levenshtein.distance, score_cutoff=1
            )
            return near[0] if near else word
        found = process.extractOne(word, self._words, scorer=fuzz.ratio, score_cutoff=80)
        return found[0] if found else word


def _texts(intent: Intent) -> tuple[str, ...]:
    return (*intent.examples, *intent.keywords)


def _document(intent: Intent) -> list[str]:
    return [term for text in _texts(intent) for term in tokenise(text).terms]
