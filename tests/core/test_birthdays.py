from __future__ import annotations

import datetime as dt

import pytest

from core.birthdays import BirthdayProblem, InvalidBirthday, format_roc, parse_birthday

TODAY = dt.date(2025, 6, 1)
JAN_2_1996 = dt.date(1996, 1, 2)


@pytest.mark.parametrize(
    "text",
    [
        "1996-01-02",
        "1996/1/2",
        "1996.1.2",
        "1996/01/02",
        "19960102",
        "85/01/02",
        "85.1.2",
        "85-1-2",
        "085/01/02",
        "850102",
        "0850102",
        "民國85年1月2日",
        "民國85年01月02日",
        "85年1月2日",
        "1996年1月2日",
        "西元1996年1月2日",
        "民國85/1/2",
        "1996 1 2",
        "85 01 02",
        " 1996 - 01 - 02 ",
        "民國 85 年 1 月 2 日",
        "１９９６／０１／０２",
        "８５．１．２",
        "民國８５年１月２日",
        "\u30001996-01-02\u3000",
        "\u200b1996-01-02\ufeff",
        "\u200e85/01/02\u200f",
        "1996–01–02",  # en dashes
    ],
)
def test_every_accepted_form_of_jan_2_1996_reads_the_same(text: str) -> None:
    assert parse_birthday(text, today=TODAY) == JAN_2_1996


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("105/1/2", dt.date(2016, 1, 2)),
        ("1050102", dt.date(2016, 1, 2)),
        ("民國105年1月2日", dt.date(2016, 1, 2)),
        ("01/01/01", dt.date(1912, 1, 1)),
        ("114/06/01", TODAY),
        ("2025-06-01", TODAY),
        ("1900-01-01", dt.date(1900, 1, 1)),
        ("89/12/31", dt.date(2000, 12, 31)),
        ("991231", dt.date(2010, 12, 31)),
    ],
)
def test_roc_and_gregorian_years_are_told_apart_by_their_length(
    text: str, expected: dt.date
) -> None:
    assert parse_birthday(text, today=TODAY) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1996-02-29", dt.date(1996, 2, 29)),
        ("2000-02-29", dt.date(2000, 2, 29)),
        ("89/02/29", dt.date(2000, 2, 29)),
        ("0930229", dt.date(2004, 2, 29)),
    ],
)
def test_feb_29_is_accepted_in_leap_years(text: str, expected: dt.date) -> None:
    assert parse_birthday(text, today=TODAY) == expected


@pytest.mark.parametrize("text", ["1997-02-29", "1900-02-29", "88/02/29", "0900229"])
def test_feb_29_is_impossible_in_other_years(text: str) -> None:
    with pytest.raises(InvalidBirthday) as caught:
        parse_birthday(text, today=TODAY)
    assert caught.value.problem is BirthdayProblem.IMPOSSIBLE_DATE


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", BirthdayProblem.EMPTY),
        ("   ", BirthdayProblem.EMPTY),
        ("\u3000\u200b\u200e", BirthdayProblem.EMPTY),
        ("1" * 65, BirthdayProblem.TOO_LONG),
        ("1996-01-02" + " " * 55, BirthdayProblem.TOO_LONG),
        ("yesterday", BirthdayProblem.UNRECOGNISED),
        ("02/01/1996", BirthdayProblem.UNRECOGNISED),
        ("1996/01", BirthdayProblem.UNRECOGNISED),
        ("1996-01/02", BirthdayProblem.UNRECOGNISED),
        ("5/1/2", BirthdayProblem.UNRECOGNISED),
        ("12345", BirthdayProblem.UNRECOGNISED),
        ("199601021", BirthdayProblem.UNRECOGNISED),
        ("1996-001-02", BirthdayProblem.UNRECOGNISED),
        ("民國1996年1月2日", BirthdayProblem.UNRECOGNISED),
        ("西元85年1月2日", BirthdayProblem.UNRECOGNISED),
        ("١٩٩٦-٠١-٠٢", BirthdayProblem.UNRECOGNISED),  # Arabic-Indic digits
        ("1996-01-02 12:00", BirthdayProblem.UNRECOGNISED),
        ("1996-02-30", BirthdayProblem.IMPOSSIBLE_DATE),
        ("1996-13-01", BirthdayProblem.IMPOSSIBLE_DATE),
        ("1996-00-10", BirthdayProblem.IMPOSSIBLE_DATE),
        ("1996-01-00", BirthdayProblem.IMPOSSIBLE_DATE),
        ("85/13/01", BirthdayProblem.IMPOSSIBLE_DATE),
        ("85/04/31", BirthdayProblem.IMPOSSIBLE_DATE),
        ("851301", BirthdayProblem.IMPOSSIBLE_DATE),
        ("00/01/02", BirthdayProblem.IMPOSSIBLE_DATE),
        ("0000-01-02", BirthdayProblem.IMPOSSIBLE_DATE),
        ("2025-06-02", BirthdayProblem.IN_FUTURE),
        ("114/06/02", BirthdayProblem.IN_FUTURE),
        ("1140602", BirthdayProblem.IN_FUTURE),
        ("2100-01-01", BirthdayProblem.IN_FUTURE),
        ("1899-12-31", BirthdayProblem.TOO_OLD),
        ("1011-01-02", BirthdayProblem.TOO_OLD),
    ],
)
def test_invalid_birthdays_are_refused_with_the_specific_problem(
    text: str, problem: BirthdayProblem
) -> None:
    with pytest.raises(InvalidBirthday) as caught:
        parse_birthday(text, today=TODAY)
    assert caught.value.problem is problem


def test_future_is_judged_against_the_given_today() -> None:
    assert parse_birthday("2025-06-02", today=dt.date(2025, 6, 2)) == dt.date(2025, 6, 2)
    with pytest.raises(InvalidBirthday):
        parse_birthday("2025-06-02", today=dt.date(2025, 6, 1))


def test_invalid_birthday_is_a_value_error_whose_message_hides_the_date() -> None:
    with pytest.raises(ValueError, match="impossible_date") as caught:
        parse_birthday("1996-02-30", today=TODAY)
    assert "1996" not in str(caught.value)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (JAN_2_1996, "85/01/02"),
        (dt.date(2016, 1, 2), "105/01/02"),
        (dt.date(1912, 1, 1), "01/01/01"),
        (dt.date(2010, 12, 31), "99/12/31"),
    ],
)
def test_format_roc_writes_the_roc_year_and_two_digit_month_and_day(
    day: dt.date, expected: str
) -> None:
    assert format_roc(day) == expected


@pytest.mark.parametrize(
    "day", [JAN_2_1996, dt.date(1912, 1, 1), dt.date(2000, 2, 29), dt.date(2025, 6, 1)]
)
def test_format_roc_output_parses_back_to_the_same_date(day: dt.date) -> None:
    assert parse_birthday(format_roc(day), today=TODAY) == day


@pytest.mark.parametrize("day", [dt.date(1911, 12, 31), dt.date(1900, 1, 1)])
def test_format_roc_refuses_dates_before_the_roc_calendar(day: dt.date) -> None:
    with pytest.raises(ValueError, match="1912"):
        format_roc(day)
