"""Entry and graduation years, Gregorian or ROC, from 1945 on."""

from __future__ import annotations

import datetime as dt

import pytest

from core.directory_import import entry_year
from core.years import InvalidYear, YearProblem, parse_year

TODAY = dt.date(2026, 11, 30)


@pytest.mark.parametrize(
    ("text", "year"),
    [
        ("2019", 2019),
        ("108", 2019),
        ("民國108年", 2019),
        ("西元2019年", 2019),
        ("１０８", 2019),
        (" 2019 ", 2019),
        ("95", 2006),
    ],
)
def test_a_year_reads_in_either_calendar(text: str, year: int) -> None:
    assert parse_year(text, latest=TODAY.year) == year


def test_1945_is_the_first_year_accepted_in_either_calendar() -> None:
    assert parse_year("1945", latest=TODAY.year) == 1945
    assert parse_year("34", latest=TODAY.year) == 1945
    for text in ("1944", "33"):
        with pytest.raises(InvalidYear) as refused:
            parse_year(text, latest=TODAY.year)
        assert refused.value.problem is YearProblem.TOO_EARLY


@pytest.mark.parametrize("text", ["民國2019年", "西元108年", "2019.5", "十八", "1", "20190"])
def test_a_year_that_cannot_be_read_one_way_is_refused(text: str) -> None:
    with pytest.raises(InvalidYear) as refused:
        parse_year(text, latest=TODAY.year)
    assert refused.value.problem is YearProblem.UNRECOGNISED


def test_a_year_after_the_latest_is_refused() -> None:
    with pytest.raises(InvalidYear) as refused:
        parse_year("2027", latest=TODAY.year)
    assert refused.value.problem is YearProblem.TOO_LATE


def test_the_directory_import_accepts_entry_years_from_1945_to_next_year() -> None:
    # Before one parser there were two: the import refused 1945-1949.
    assert entry_year("1946", today=TODAY) == 1946
    assert entry_year("35", today=TODAY) == 1946
    assert entry_year("2027", today=TODAY) == 2027
    assert entry_year("1944", today=TODAY) is None
