"""Common and breached passwords in their usual dressing, and the user's own words."""

from __future__ import annotations

import datetime as dt

import pytest

from core.models import Person, RecordStatus, Role, StudentRecord
from core.password_policy import Violation, check
from core.password_words import is_common, personal_words
from core.profiles import load_profile

# --- the common and breached list (zxcvbn's, MIT) ------------------------------------


@pytest.mark.parametrize(
    "password", ["password", "123456789", "Password1", "PASSWORD", "qwerty2024", "ｐａｓｓｗｏｒｄ"]
)
def test_common_passwords_are_recognised_in_any_case_width_or_with_a_trailing_number(
    password: str,
) -> None:
    assert is_common(password)


@pytest.mark.parametrize("password", ["Koala7Bridge", "violet tractor humming pebble", ""])
def test_uncommon_passwords_are_not_flagged(password: str) -> None:
    assert not is_common(password)


@pytest.mark.parametrize(
    "password", ["Password1!", "Passw0rd!", "Qwerty123!", "Welcome1!", "Aa123456!", "P@$$w0rd2024#"]
)
def test_ntust_refuses_common_passwords_dressed_with_capitals_digits_symbols_and_leetspeak(
    password: str,
) -> None:
    # They meet every class rule of seed 000; NIST SP 800-63B still refuses them.
    unmet = check(load_profile("ntust").password_policy, password)
    assert [r.code for r in unmet] == [Violation.TOO_COMMON]


@pytest.mark.parametrize("password", ["Koala7Bridge!", "Tulipz1!", "Mango2!k", "Abc1!xyz"])
def test_uncommon_passwords_with_the_same_dressing_are_still_accepted(password: str) -> None:
    assert check(load_profile("ntust").password_policy, password) == []


def _student() -> Person:
    person = Person(
        name_zh="林明志",
        name_en="Lin Ming-Zhi",
        role=Role.STUDENT,
        id_number_hash="x",
        birthday_hash="y",
        id_number_masked="A1******90",
        created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    )
    person.records = [
        StudentRecord(
            student_id="211303001",
            degree_level="master",
            department="CS",
            entry_year=2024,
            status=RecordStatus.ENROLLED,
        )
    ]
    return person


def test_personal_words_name_the_accounts_student_ids_and_both_names() -> None:
    words = personal_words(_student(), ["ming-zhi.lin@demo.edu.tw"])
    assert words == ["ming-zhi.lin@demo.edu.tw", "211303001", "林明志", "Lin Ming-Zhi"]


def test_a_student_id_is_refused_even_when_the_account_named_is_a_mailbox() -> None:
    # The page and `helpdesk policy check` used to disagree: only the CLI added student IDs.
    words = personal_words(_student(), ["ming-zhi.lin@demo.edu.tw"])
    unmet = check(load_profile("ntust").password_policy, "Tulipz211303001!", personal=words)
    assert [r.code for r in unmet] == [Violation.CONTAINS_PERSONAL]
