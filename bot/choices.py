"""Typed answers to buttons: the option's number, its label, a synonym, part of a label.

People type "2", "碩士", "Master" or "PhD" rather than press a button; the engine reads
such an answer as the choice it names (``Context.choices`` stores the options and their
synonyms with the conversation).
"""

from __future__ import annotations

from core.text import fold

# An offered choice: its label and the other words that choose it.
Offered = dict[str, tuple[str, tuple[str, ...]]]


def offered_choices(stored: list[list[str]], words: dict[str, list[str]]) -> Offered:
    """The last question's choices (value, label) with the words that also choose them."""
    return {
        value: (label, tuple(fold(word) for word in words.get(value, ())))
        for value, label in stored
    }


def match_choice(text: str, offered: Offered) -> str | None:
    """A typed answer to buttons: the option's number, label, a synonym, or part of a label."""
    folded = fold(text).rstrip(".。!！")
    values = list(offered)
    if folded.isdigit() and 1 <= int(folded) <= len(values):
        return values[int(folded) - 1]
    for value, (label, _words) in offered.items():
        if fold(label) == folded:
            return value
    for value, (_label, words) in offered.items():
        if folded in words:
            return value
    if len(folded) >= 2:
        containing = [value for value, (label, _) in offered.items() if folded in fold(label)]
        if len(containing) == 1:
            return containing[0]
    return None
