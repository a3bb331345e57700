"""Birthdays as people type them in Taiwan: Gregorian or ROC (民國) calendar.

Product design: the ROC calendar counts years from 1912, so a ROC year + 1911 is the
Gregorian year (民國85年 = 1996). A 4-digit year is Gregorian; a 2- or 3-digit year is ROC.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum

from core.text import normalise
from core.years import ROC_OFFSET

__all__ = ["ROC_OFFSET", "BirthdayProblem", "InvalidBirthday", "format_roc", "parse_birthday"]


# Plenty for "民國 085 年 01 月 02 日" with spaces; short enough that NFKC and the regular
# expressions never run over a pasted essay.
MAX_INPUT_LENGTH = 64

# Product design: a birthday before this is refused as a typo, not a person.
EARLIEST = dt.date(1900, 1, 1)

# [0-9], not \d: \d also matches other scripts' digits, which NFKC leaves alone.
# Year first only: "02/01/1996" is day-first in some countries and month-first in others,
# so it is refused rather than guessed.
_ERA = r"(?P<era>民國|西元)?"
_FORMS = tuple(
    re.compile(_ERA + form)
    for form in (
        # 1996-01-02, 1996/1/2, 1996.1.2, 1996 1 2, 85/01/02, 105-1-2: one separator throughout.
        r"(?P<year>[0-9]{2,4})(?P<sep>[-/. ])(?P<month>[0-9]{1,2})(?P=sep)(?P<day>[0-9]{1,2})",
        # 1996年1月2日, 85年1月2日.
        r"(?P<year>[0-9]{2,4})年(?P<month>[0-9]{1,2})月(?P<day>[0-9]{1,2})[日號]?",
        # 19960102 (Gregorian yyyyMMdd), 0850102 / 1050102 (ROC yyyMMdd), 850102 (ROC yyMMdd).
        r"(?P<year>[0-9]{2,4})(?P<month>[0-9]{2})(?P<day>[0-9]{2})",
    )
)


class BirthdayProblem(StrEnum):
    """Why a birthday was refused, specific enough to tell the user what to fix."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    UNRECOGNISED = "unrecognised"
    IMPOSSIBLE_DATE = "impossible_date"
    IN_FUTURE = "in_future"
    TOO_OLD = "too_old"


class InvalidBirthday(ValueError):
    """A birthday was refused; ``problem`` says why."""

    def __init__(self, problem: BirthdayProblem) -> None:
        # The message never includes the date itself: it may end up in a log
        # (DESIGN.md, security rules).
        super().__init__(f"invalid birthday: {problem}")
        self.problem = problem


def parse_birthday(text: str, *, today: dt.date) -> dt.date:
    """Read a Gregorian or ROC birthday no later than ``today``; raise ``InvalidBirthday``."""
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidBirthday(BirthdayProblem.TOO_LONG)
    text = _clean(text)
    if not text:
        raise InvalidBirthday(BirthdayProblem.EMPTY)
    match = next(filter(None, (form.fullmatch(text) for form in _FORMS)), None)
    if match is None:
        raise InvalidBirthday(BirthdayProblem.UNRECOGNISED)
    is_roc = len(match["year"]) < 4
    # An explicit era that contradicts the year's length ("民國1996年") is a typo we
    # cannot resolve.
    if match["era"] is not None and is_roc != (match["era"] == "民國"):
        raise InvalidBirthday(BirthdayProblem.UNRECOGNISED)
    year = int(match["year"])
    # The ROC calendar has no year 0 (民國元年 is 1912).
    if is_roc and year == 0:
        raise InvalidBirthday(BirthdayProblem.IMPOSSIBLE_DATE)
    try:
        day = dt.date(year + ROC_OFFSET if is_roc else year, int(match["month"]), int(match["day"]))
    except ValueError:
        raise InvalidBirthday(BirthdayProblem.IMPOSSIBLE_DATE) from None
    if day < EARLIEST:
        raise InvalidBirthday(BirthdayProblem.TOO_OLD)
    if day > today:
        raise InvalidBirthday(BirthdayProblem.IN_FUTURE)
    return day


def format_roc(d: dt.date) -> str:
    """The date in the ROC calendar as yy/MM/dd, e.g. "85/01/02"; years from 100 have 3 digits."""
    if d.year <= ROC_OFFSET:
        # Product design: ROC years start at 1912; earlier ones are written 民國前, not here.
        raise ValueError("dates before 1912 have no ROC year")
    return f"{d.year - ROC_OFFSET:02d}/{d.month:02d}/{d.day:02d}"


def _clean(text: str) -> str:
    """Fold full-width forms, drop invisible characters and padding; keep spaces between numbers."""
    # Full-width "１９９６／１／２" reads "1996/1/2"; "1996–01–02" reads "1996-01-02".
    text = normalise(text, dashes=True).strip()
    # Spaces next to a separator or 年/月/日 are padding; spaces between two numbers are
    # themselves the separator ("1996 1 2"), so they shrink to one and stay.
    text = re.sub(r"\s*([^0-9\s])\s*", r"\1", text)
    return re.sub(r"\s+", " ", text)
