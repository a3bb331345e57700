"""Taiwanese national ID numbers (身分證字號) and resident certificate (居留證) numbers.

Facts from the product design:

- National ID: a letter, 1 (male) or 2 (female), then 8 digits.
- Resident certificate (UI number), new form since 2021-01-02: a letter, 8 or 9, then 8 digits.
- Resident certificate, old form: two letters, the second A-D, then 8 digits; old numbers
  stop working on 2031-01-01.
- All three share one checksum: the first letter becomes two digits,
  10 + "ABCDEFGHJKLMNPQRSTUVXYWZIO".index(letter); those two and the nine characters that
  follow are weighted 1,9,8,7,6,5,4,3,2,1,1 and the sum must be divisible by 10.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from core.text import normalise as text_normalise

# Long enough for any ID padded with spaces and separators, short enough that NFKC
# never runs over a pasted essay.
MAX_INPUT_LENGTH = 64

# Product design: old-form resident certificate numbers stop working on this day.
OLD_RESIDENT_EXPIRY = dt.date(2031, 1, 1)

# Product design: the letter's code is 10 + its index here. Not alphabetical: the order
# ends X, Y, W, Z, I, O, so X=30, Y=31, W=32, Z=33, I=34, O=35.
_LETTERS = "ABCDEFGHJKLMNPQRSTUVXYWZIO"

# Product design: weights for the letter's two digits and the nine characters after it.
_WEIGHTS = (1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1)


class IdKind(StrEnum):
    """Which document an ID number belongs to."""

    NATIONAL_ID = "national_id"
    RESIDENT_NEW = "resident_new"
    RESIDENT_OLD = "resident_old"


class IdProblem(StrEnum):
    """Why an ID number was refused, specific enough to tell the user what to fix."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    BAD_LENGTH = "bad_length"
    BAD_FIRST_LETTER = "bad_first_letter"
    BAD_SECOND_CHARACTER = "bad_second_character"
    NOT_DIGITS = "not_digits"
    CHECK_DIGIT = "check_digit"
    OLD_RESIDENT_EXPIRED = "old_resident_expired"


# Product design: what the second character announces, and the number it counts as in
# the checksum. An old-form resident certificate's A-D takes the gender digit's place as 0-3.
_SECOND: dict[str, tuple[IdKind, int]] = {
    "1": (IdKind.NATIONAL_ID, 1),  # male
    "2": (IdKind.NATIONAL_ID, 2),  # female
    "8": (IdKind.RESIDENT_NEW, 8),
    "9": (IdKind.RESIDENT_NEW, 9),
    "A": (IdKind.RESIDENT_OLD, 0),
    "B": (IdKind.RESIDENT_OLD, 1),
    "C": (IdKind.RESIDENT_OLD, 2),
    "D": (IdKind.RESIDENT_OLD, 3),
}


class InvalidIdNumber(ValueError):
    """An ID number was refused; ``problem`` says why, ``kind`` what it looked like."""

    def __init__(self, problem: IdProblem, kind: IdKind | None = None) -> None:
        # The message never includes the number itself: it may end up in a log
        # (DESIGN.md, security rules).
        super().__init__(f"invalid ID number: {problem}")
        self.problem = problem
        self.kind = kind


@dataclass(frozen=True, repr=False)
class IdNumber:
    """A valid, normalised ID number; build it with ``parse_id_number``."""

    value: str
    kind: IdKind

    def masked(self) -> str:
        """The number with all but the first two and last two characters hidden."""
        return self.value[:2] + "*" * (len(self.value) - 4) + self.value[-2:]

    def __repr__(self) -> str:
        # Masked so that a stray log line or traceback does not leak the number.
        return f"IdNumber({self.masked()!r}, {self.kind.name})"


def normalise(text: str) -> str:
    """The typed number as compared: ``core.text.normalise``, then no spaces or dashes.

    People group the digits with hyphens or spaces ("A123-456-789"), on a full-width
    keyboard, with invisible marks pasted around them: none of that is the number.
    """
    text = text_normalise(text, dashes=True).replace("-", "")
    return "".join(text.split()).upper()


def parse_id_number(text: str, *, today: dt.date | None = None) -> IdNumber:
    """Validate a national ID or resident certificate number; raise ``InvalidIdNumber``."""
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidIdNumber(IdProblem.TOO_LONG)
    value = normalise(text)
    if not value:
        raise InvalidIdNumber(IdProblem.EMPTY)
    kind = _check_shape(value, length=10)
    if _weighted_sum(value) % 10 != 0:
        raise InvalidIdNumber(IdProblem.CHECK_DIGIT, kind)
    # Without a date there is no "now" to compare against; the caller decides.
    if kind is IdKind.RESIDENT_OLD and today is not None and today >= OLD_RESIDENT_EXPIRY:
        raise InvalidIdNumber(IdProblem.OLD_RESIDENT_EXPIRED, kind)
    return IdNumber(value, kind)


def check_digit_ok(value: str) -> bool:
    """Whether a normalised 10-character ID number passes the checksum."""
    try:
        _check_shape(value, length=10)
    except InvalidIdNumber:
        return False
    return _weighted_sum(value) % 10 == 0


def make_valid(prefix: str) -> str:
    """Complete the first 9 characters of an ID number with the check digit that makes it valid."""
    value = normalise(prefix)
    _check_shape(value, length=9)
    # The check digit has weight 1, so it is whatever brings the sum up to a multiple of 10.
    return value + str(-_weighted_sum(value) % 10)


def _kind_of(value: str) -> IdKind | None:
    """The kind the first two characters announce, or None if they announce none."""
    if len(value) < 2 or value[0] not in _LETTERS:
        return None
    kind, _ = _SECOND.get(value[1], (None, 0))
    return kind


def _check_shape(value: str, *, length: int) -> IdKind:
    """The kind of a normalised number of ``length`` characters; raise if it is malformed."""
    kind = _kind_of(value)
    if len(value) != length:
        raise InvalidIdNumber(IdProblem.BAD_LENGTH, kind)
    if value[0] not in _LETTERS:
        raise InvalidIdNumber(IdProblem.BAD_FIRST_LETTER)
    if kind is None:
        raise InvalidIdNumber(IdProblem.BAD_SECOND_CHARACTER)
    # isdigit() alone accepts other scripts' digits (e.g. Arabic-Indic), which NFKC keeps.
    if not (value[2:].isascii() and value[2:].isdigit()):
        raise InvalidIdNumber(IdProblem.NOT_DIGITS, kind)
    return kind


def _weighted_sum(value: str) -> int:
    """The checksum's weighted sum over a well-shaped number, with or without its check digit."""
    code = 10 + _LETTERS.index(value[0])
    _, second = _SECOND[value[1]]
    numbers = [code // 10, code % 10, second, *map(int, value[2:])]
    return sum(weight * number for weight, number in zip(_WEIGHTS, numbers, strict=False))
