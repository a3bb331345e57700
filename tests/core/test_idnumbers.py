from __future__ import annotations

import datetime as dt

import pytest

from core.idnumbers import (
    IdKind,
    IdNumber,
    IdProblem,
    InvalidIdNumber,
    check_digit_ok,
    make_valid,
    normalise,
    parse_id_number,
)

VALID = [
    ("A123456789", IdKind.NATIONAL_ID),
    ("F131104093", IdKind.NATIONAL_ID),
    ("B234567894", IdKind.NATIONAL_ID),
    ("AA00000009", IdKind.RESIDENT_OLD),
    ("HD02717288", IdKind.RESIDENT_OLD),
    ("A800000014", IdKind.RESIDENT_NEW),
    ("A900207177", IdKind.RESIDENT_NEW),
]


@pytest.mark.parametrize(("text", "kind"), VALID)
def test_valid_numbers_are_accepted_with_their_kind(text: str, kind: IdKind) -> None:
    assert parse_id_number(text) == IdNumber(text, kind)


# Worked out by hand from the letter table: X=30, Y=31, W=32, Z=33, I=34, O=35 are out
# of alphabetical order, so a table sorted by mistake fails here.
@pytest.mark.parametrize(
    "text",
    [
        "J123456787",
        "X123456787",
        "Y123456788",
        "W123456789",
        "Z123456780",
        "I123456781",
        "O123456782",
    ],
)
def test_letters_added_late_use_their_own_codes(text: str) -> None:
    assert parse_id_number(text).value == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a123456789", "A123456789"),
        ("  A123456789  ", "A123456789"),
        ("A 123 456 789", "A123456789"),
        ("A123-456-789", "A123456789"),
        ("A123–456–789", "A123456789"),  # en dashes
        ("Ａ１２３４５６７８９", "A123456789"),  # full-width
        ("\u3000A123456789\u3000", "A123456789"),  # ideographic space
        ("A12\u200b3456\u200c78\u200d9", "A123456789"),
        ("\ufeffA123456789\u2060", "A123456789"),
        ("\u202aA123456789\u202c", "A123456789"),
        ("\u200eA123456789\u200f", "A123456789"),
        ("\u2066A123456789\u2069", "A123456789"),
        ("hd02717288", "HD02717288"),
        ("ａａ０００００００９", "AA00000009"),
    ],
)
def test_typing_and_pasting_noise_is_tolerated(text: str, expected: str) -> None:
    assert parse_id_number(text).value == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        (" \t\n\u3000", ""),
        ("ａ－１\u200b２", "A12"),
        ("x\u00ad9", "X9"),  # soft hyphen
        ("A\u202e1", "A1"),
    ],
)
def test_normalise_folds_width_drops_noise_and_upper_cases(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("text", "problem", "kind"),
    [
        ("", IdProblem.EMPTY, None),
        ("   ", IdProblem.EMPTY, None),
        ("\u200b\u3000-", IdProblem.EMPTY, None),
        ("A" * 65, IdProblem.TOO_LONG, None),
        (" " * 60 + "A123456789", IdProblem.TOO_LONG, None),
        ("A12345678", IdProblem.BAD_LENGTH, IdKind.NATIONAL_ID),
        ("A1234567890", IdProblem.BAD_LENGTH, IdKind.NATIONAL_ID),
        ("AA0000000", IdProblem.BAD_LENGTH, IdKind.RESIDENT_OLD),
        ("A", IdProblem.BAD_LENGTH, None),
        ("1123456789", IdProblem.BAD_FIRST_LETTER, None),
        ("*123456789", IdProblem.BAD_FIRST_LETTER, None),
        ("É123456789", IdProblem.BAD_FIRST_LETTER, None),
        ("A323456789", IdProblem.BAD_SECOND_CHARACTER, None),
        ("A023456789", IdProblem.BAD_SECOND_CHARACTER, None),
        ("AE00000009", IdProblem.BAD_SECOND_CHARACTER, None),
        ("A12345678X", IdProblem.NOT_DIGITS, IdKind.NATIONAL_ID),
        ("A8000000O4", IdProblem.NOT_DIGITS, IdKind.RESIDENT_NEW),
        ("AA0000000!", IdProblem.NOT_DIGITS, IdKind.RESIDENT_OLD),
        ("A1234567٨9", IdProblem.NOT_DIGITS, IdKind.NATIONAL_ID),  # Arabic-Indic eight
        ("A123456788", IdProblem.CHECK_DIGIT, IdKind.NATIONAL_ID),
        ("B123456789", IdProblem.CHECK_DIGIT, IdKind.NATIONAL_ID),
        ("A223456789", IdProblem.CHECK_DIGIT, IdKind.NATIONAL_ID),
        ("AA00000008", IdProblem.CHECK_DIGIT, IdKind.RESIDENT_OLD),
        ("HC02717288", IdProblem.CHECK_DIGIT, IdKind.RESIDENT_OLD),
        ("A800000015", IdProblem.CHECK_DIGIT, IdKind.RESIDENT_NEW),
        ("A900207178", IdProblem.CHECK_DIGIT, IdKind.RESIDENT_NEW),
    ],
)
def test_invalid_numbers_are_refused_with_the_specific_problem(
    text: str, problem: IdProblem, kind: IdKind | None
) -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        parse_id_number(text)
    assert caught.value.problem is problem
    assert caught.value.kind is kind


def test_a_second_digit_of_8_or_9_is_a_new_resident_certificate_not_a_bad_national_id() -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        parse_id_number("A823456789")
    assert caught.value.problem is IdProblem.CHECK_DIGIT
    assert caught.value.kind is IdKind.RESIDENT_NEW


def test_invalid_id_number_is_a_value_error_whose_message_hides_the_number() -> None:
    with pytest.raises(ValueError, match="check_digit") as caught:
        parse_id_number("A123456788")
    assert "A123456788" not in str(caught.value)


@pytest.mark.parametrize(
    ("today", "text"),
    [
        (dt.date(2031, 1, 1), "AA00000009"),
        (dt.date(2040, 6, 1), "HD02717288"),
    ],
)
def test_old_resident_certificates_are_refused_from_2031(today: dt.date, text: str) -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        parse_id_number(text, today=today)
    assert caught.value.problem is IdProblem.OLD_RESIDENT_EXPIRED
    assert caught.value.kind is IdKind.RESIDENT_OLD


@pytest.mark.parametrize("today", [None, dt.date(2030, 12, 31)])
def test_old_resident_certificates_work_until_the_end_of_2030(today: dt.date | None) -> None:
    assert parse_id_number("AA00000009", today=today).kind is IdKind.RESIDENT_OLD


@pytest.mark.parametrize("text", ["A123456789", "A800000014"])
def test_the_2031_cutoff_does_not_touch_national_ids_or_new_resident_certificates(
    text: str,
) -> None:
    assert parse_id_number(text, today=dt.date(2031, 1, 1)).value == text


def test_a_bad_check_digit_is_reported_before_expiry() -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        parse_id_number("AA00000008", today=dt.date(2031, 1, 1))
    assert caught.value.problem is IdProblem.CHECK_DIGIT


@pytest.mark.parametrize(
    ("text", "masked"),
    [("A123456789", "A1******89"), ("AA00000009", "AA******09"), ("a900207177", "A9******77")],
)
def test_masked_keeps_the_first_two_and_last_two_characters(text: str, masked: str) -> None:
    assert parse_id_number(text).masked() == masked


def test_repr_shows_only_the_masked_number() -> None:
    number = parse_id_number("F131104093")
    assert "F131104093" not in repr(number)
    assert "F1******93" in repr(number)


def test_id_number_is_immutable() -> None:
    number = parse_id_number("A123456789")
    with pytest.raises(AttributeError):
        number.value = "B123456789"  # type: ignore[misc]


@pytest.mark.parametrize(("text", "kind"), VALID)
def test_check_digit_ok_accepts_valid_numbers(text: str, kind: IdKind) -> None:
    assert check_digit_ok(text)


@pytest.mark.parametrize(
    "value",
    ["A123456788", "AA00000008", "A800000015", "A323456789", "A12345678", "", "A12345678X"],
)
def test_check_digit_ok_rejects_wrong_digits_and_malformed_values(value: str) -> None:
    assert not check_digit_ok(value)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("A12345678", "A123456789"),
        ("F13110409", "F131104093"),
        ("AA0000000", "AA00000009"),
        ("HD0271728", "HD02717288"),
        ("A80000001", "A800000014"),
        ("A90020717", "A900207177"),
        ("z12345678", "Z123456780"),
    ],
)
def test_make_valid_appends_the_right_check_digit(prefix: str, expected: str) -> None:
    assert make_valid(prefix) == expected


@pytest.mark.parametrize("letter", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
@pytest.mark.parametrize("second", "1289ABCD")
def test_make_valid_output_parses_and_any_other_last_digit_does_not(
    letter: str, second: str
) -> None:
    number = make_valid(f"{letter}{second}0715243")
    assert parse_id_number(number).value == number
    for digit in "0123456789":
        if digit != number[-1]:
            assert not check_digit_ok(number[:-1] + digit)


@pytest.mark.parametrize(
    ("prefix", "problem"),
    [
        ("A1234567", IdProblem.BAD_LENGTH),
        ("A123456789", IdProblem.BAD_LENGTH),
        ("112345678", IdProblem.BAD_FIRST_LETTER),
        ("A32345678", IdProblem.BAD_SECOND_CHARACTER),
        ("A1234567X", IdProblem.NOT_DIGITS),
    ],
)
def test_make_valid_refuses_prefixes_that_cannot_become_an_id(
    prefix: str, problem: IdProblem
) -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        make_valid(prefix)
    assert caught.value.problem is problem
