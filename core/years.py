"""Years as people type them in Taiwan: Gregorian (2019) or ROC (民國108年, 108).

Product design: ROC year + 1911 = Gregorian year; a 4-digit year is Gregorian, a
2- or 3-digit one ROC. Entry and graduation years (the directory import, the alumni
application) go through ``parse_year``; birthdays, with days and months, through
``core.birthdays``.
"""

from __future__ import annotations

from enum import StrEnum

from core.text import normalise

ROC_OFFSET = 1911

# Taiwan has counted years in the ROC calendar since 1945 (民國34年), the year the
# oldest of the profiles' universities took its present name; an entry or graduation
# year before that is a typo, not a student.
EARLIEST_YEAR = 1945

MAX_INPUT_LENGTH = 32


class YearProblem(StrEnum):
    """Why a year was refused."""

    EMPTY = "empty"
    UNRECOGNISED = "unrecognised"
    TOO_EARLY = "too_early"
    TOO_LATE = "too_late"


class InvalidYear(ValueError):
    """A year was refused; ``problem`` says why."""

    def __init__(self, problem: YearProblem) -> None:
        super().__init__(f"invalid year: {problem}")
        self.problem = problem


def parse_year(text: str, *, latest: int, earliest: int = EARLIEST_YEAR) -> int:
    """The Gregorian year from ``earliest`` to ``latest`` that ``text`` names."""
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidYear(YearProblem.UNRECOGNISED)
    value = "".join(normalise(text).split())
    if not value:
        raise InvalidYear(YearProblem.EMPTY)
    era = None
    for prefix in ("民國", "西元"):
        if value.startswith(prefix):
            era, value = prefix, value.removeprefix(prefix)
    value = value.removesuffix("年")
    # [0-9], not isdigit(): other scripts' digits are not years.
    if not (value.isascii() and value.isdigit()) or not 2 <= len(value) <= 4:
        raise InvalidYear(YearProblem.UNRECOGNISED)
    is_roc = len(value) < 4
    if era is not None and is_roc != (era == "民國"):
        raise InvalidYear(YearProblem.UNRECOGNISED)  # "民國2019年" cannot be resolved
    year = int(value) + (ROC_OFFSET if is_roc else 0)
    if year < earliest:
        raise InvalidYear(YearProblem.TOO_EARLY)
    if year > latest:
        raise InvalidYear(YearProblem.TOO_LATE)
    return year
