"""Reading the directory CSV: every row checked first, errors by line without personal data."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from core.directory_csv import RowError, parse_rows
from core.idnumbers import make_valid
from core.models import Role
from tests.core.directory_rows import (
    ALUMNUS_ID,
    DEMO,
    GOOD,
    HEADER,
    STAFF_ID,
    STUDENT_ID,
    TODAY,
    WRONG_CHECK_DIGIT,
    parse,
)


def assert_no_personal_data(errors: list[RowError], *values: str) -> None:
    for error in errors:
        for value in values:
            assert value not in error.reason


def test_a_good_file_parses_without_errors() -> None:
    rows, errors = parse(GOOD)

    assert errors == []
    assert [row.line for row in rows] == [2, 3, 4, 5]
    assert [row.role for row in rows] == [Role.STUDENT, Role.STAFF, Role.ALUMNUS, Role.STUDENT]
    assert rows[0].birthday == dt.date(2003, 4, 5)
    assert rows[2].birthday == dt.date(1986, 8, 9)  # ROC 75
    assert rows[2].entry_year == 2006  # ROC 95
    assert rows[1].student_id is None and rows[1].status is None
    assert "2003" not in repr(rows[0]) and STUDENT_ID not in repr(rows[0])


def test_bad_rows_are_reported_by_line_and_reason_without_the_values() -> None:
    future = (TODAY + dt.timedelta(days=30)).isoformat()
    lines = [
        HEADER,
        GOOD[1],
        GOOD[2].replace(STAFF_ID, WRONG_CHECK_DIGIT),
        GOOD[3].replace("75/08/09", future),
        GOOD[4],
    ]

    rows, errors = parse(lines)

    assert errors == [
        RowError(3, "id_number: the check digit does not match"),
        RowError(4, "birthday: in the future"),
    ]
    assert [row.line for row in rows] == [2, 5]
    assert_no_personal_data(errors, WRONG_CHECK_DIGIT, future, ALUMNUS_ID)


def test_full_width_id_numbers_and_a_bom_are_accepted() -> None:
    full_width = STUDENT_ID.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    text = "\ufeff" + "\n".join([GOOD[0], GOOD[1].replace(STUDENT_ID, full_width)]) + "\n"

    rows, errors = parse_rows(io.StringIO(text), profile=DEMO, today=TODAY)

    assert full_width != STUDENT_ID
    assert errors == []
    assert rows[0].id_number.value == STUDENT_ID


def test_duplicates_within_the_file_are_reported() -> None:
    other = make_valid("T12398765")
    lines = [
        *GOOD,
        GOOD[1].replace(STUDENT_ID, other),  # same student ID as line 2
        GOOD[2].replace("郭淑芬", "郭淑華"),  # same ID number as line 3
    ]

    rows, errors = parse(lines)

    assert errors == [
        RowError(6, "student_id: the same student ID is already on line 2"),
        RowError(7, "id_number: the same ID number is already on line 3"),
    ]
    assert len(rows) == 4
    assert_no_personal_data(errors, other, STAFF_ID)


def test_missing_and_unknown_columns_are_an_error_on_line_one() -> None:
    header = HEADER.replace(",email", ",e_mail")

    rows, errors = parse([header, GOOD[1].removesuffix(",zihan.zhou@example.com") + ","])

    assert rows == []
    assert errors == [RowError(1, "header: columns missing: email; unknown: e_mail")]


def test_a_file_without_header_does_not_echo_its_first_row() -> None:
    rows, errors = parse(GOOD[1:])

    assert rows == [] and [error.line for error in errors] == [1]
    assert_no_personal_data(errors, STUDENT_ID, "2003-04-05")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("student,", "teacher,"), "role: must be student, staff or alumnus"),
        (("111403101", "11140310"), "student_id: does not match the profile's student ID format"),
        (("bachelor", "postdoc"), "degree_level: not one of the profile's levels"),
        ((",2025,", ",1850,"), "entry_year: must be a year from 1945"),
        (("enrolled", "expelled"), "status: must be enrolled, suspended"),
        (("zihan.zhou@example.com", "not-an-address"), "email: not an e-mail address"),
        (("周子涵", ""), "name_zh: empty"),
        (("111403101", ""), "student_id: required for a student"),
    ],
)
def test_each_field_is_checked(change: tuple[str, str], reason: str) -> None:
    rows, errors = parse([HEADER, GOOD[1].replace(*change)])

    assert rows == []
    assert len(errors) == 1 and errors[0].line == 2
    assert errors[0].reason.startswith(reason)


def test_staff_rows_must_not_carry_enrolment_columns() -> None:
    rows, errors = parse([HEADER, GOOD[2].replace(",,,,,,", ",,,資訊工程學系,,,")])

    assert rows == []
    assert errors == [RowError(2, "department: must be empty for staff")]


def test_an_alumnus_record_must_be_graduated() -> None:
    rows, errors = parse([HEADER, GOOD[3].replace("graduated", "enrolled")])

    assert rows == []
    assert errors == [RowError(2, "status: an alumnus's record must be graduated")]


def test_a_mailbox_that_is_not_an_address_is_refused() -> None:
    _, errors = parse([HEADER + ",mailbox", GOOD[2] + ",not-an-address"])
    assert errors == [RowError(2, "mailbox: not an e-mail address")]
