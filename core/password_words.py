"""Words a password must not be: common and breached ones, and the user's own.

The common list is zxcvbn's (MIT licence, in the zxcvbn package's LICENSE.txt): the
30,000 most frequent passwords of the breach corpora it was built from, lower-case.
NIST SP 800-63B asks for such a list; people dress those words up the same few ways
(a capital, digits and a symbol at the end, 0 for o, @ for a), so a password is
compared after undoing each of them.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterable, Sequence
from functools import cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from core.models import Person
from core.text import normalise

# zxcvbn 4.5 refuses longer input (ValueError); the first 72 characters are rated,
# which can only under-rate a longer password, never over-rate it.
ZXCVBN_MAX_LENGTH = 72
# "A part of the name of 3+ characters": shorter parts (Lee, 明) match too much.
PERSONAL_MIN_LENGTH = 3
# A stem this short once its dressing is gone ("Aa1!" -> "aa") says nothing.
MIN_STEM_LENGTH = 4

# Leetspeak as people type it; "1" stands for i or l, so both readings are tried.
_LEET: dict[str, tuple[str, ...]] = {
    "0": ("o",),
    "1": ("i", "l"),
    "3": ("e",),
    "4": ("a",),
    "5": ("s",),
    "7": ("t",),
    "8": ("b",),
    "9": ("g",),
    "@": ("a",),
    "$": ("s",),
    "!": ("i",),
    "+": ("t",),
}
_SUFFIX = re.compile(r"[\W_0-9]+$")
_SYMBOL_SUFFIX = re.compile(r"[\W_]+$")
_MAX_READINGS = 64


@cache
def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def _fold(text: str) -> str:
    """Compare as people read: full-width folded (Ｂ１ is B1), no invisible marks, any case."""
    return normalise(text).casefold()


def _leet_readings(text: str) -> set[str]:
    """``text`` with each leetspeak character read back as a letter (every reading, bounded)."""
    choices = [(ch, *_LEET.get(ch, ())) for ch in text]
    readings = itertools.islice(itertools.product(*choices), _MAX_READINGS)
    return {"".join(reading) for reading in readings}


def common_forms(password: str) -> set[str]:
    """What ``password`` may be a dressed-up form of: itself, without its suffix, de-leeted."""
    folded = _fold(password)
    stems = {folded, _SYMBOL_SUFFIX.sub("", folded), _SUFFIX.sub("", folded)}
    forms = set(stems)
    for stem in stems:
        forms |= _leet_readings(stem)
        # "P@ssw0rd1!" de-leets to "password1i": strip again after reading.
        forms |= {_SUFFIX.sub("", reading) for reading in _leet_readings(stem)}
    return {form for form in forms if form == folded or len(form) >= MIN_STEM_LENGTH}


def is_common(password: str) -> bool:
    """Whether the password is a common or breached one, in any case, width or dressing."""
    return not _common_passwords().isdisjoint(common_forms(password))


_NAME_SEPARATORS = re.compile(r"[\s,\-·]+")


def personal_words(person: Person, accounts: Iterable[str] = ()) -> list[str]:
    """What a password must not contain: the account names, student IDs and names.

    ``person.records`` must be loaded. The web page and ``helpdesk policy check`` both
    use this, so they refuse the same passwords.
    """
    words = [
        *accounts,
        *(record.student_id for record in person.records),
        person.name_zh,
        person.name_en,
    ]
    return [word for word in dict.fromkeys(words) if word]


def personal_terms(personal: Iterable[str]) -> list[str]:
    """The folded words a password must not contain: each item and its 3+ parts."""
    terms: list[str] = []
    for item in personal:
        folded = _fold(item).strip()
        local = folded.split("@", 1)[0]  # an account that is a mail address
        for term in (folded, local, *_NAME_SEPARATORS.split(folded)):
            if len(term) >= PERSONAL_MIN_LENGTH and term not in terms:
                terms.append(term)
    return terms


def contains_personal(password: str, personal: Iterable[str]) -> bool:
    """Whether the password contains a personal word (case and width ignored)."""
    folded = _fold(password)
    return any(term in folded for term in personal_terms(personal))


# zxcvbn stores user_inputs in a module-level dict before matching, so two threads
# (the account service hashes in worker threads) must not rate at the same time.
_zxcvbn_lock = threading.Lock()


def strength(password: str, personal: Sequence[str] = ()) -> int:
    """zxcvbn's score, 0 (weakest) to 4, knowing the user's personal words."""
    if not password:
        return 0  # zxcvbn 4.5 fails (IndexError) on the empty string
    inputs = [*personal, *personal_terms(personal)]
    with _zxcvbn_lock:
        result = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=inputs)
    return int(result["score"])
