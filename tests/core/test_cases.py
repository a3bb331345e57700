"""What a case keeps of what the user typed: never an ID number, date, code, link or password."""

from __future__ import annotations

import pytest

from core.cases import MAX_MESSAGE, scrub


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("my ID is A123456789", "my ID is [ID number]"),
        ("居留證 AA00000009 跟 A800000014", "居留證 [ID number] 跟 [ID number]"),
        ("born 1996-01-02 or 85/01/02", "born [date] or [date]"),
        ("生日 85年1月2日", "生日 [date]"),
        ("the code was 493021", "the code was [number]"),
        ("birthday 19960102", "birthday [number]"),
        ("enrolment K7QM-2X9D-PA", "enrolment [code]"),
        ("see https://x.example/password/abc?t=1 now", "see [link] now"),
        ("my password is Tr0ub4dor&3", "my password is [removed]"),
    ],
)
def test_scrub_takes_out_what_staff_must_never_see(typed: str, kept: str) -> None:
    assert scrub(typed) == kept


def test_scrub_keeps_an_ordinary_question_and_a_student_id() -> None:
    question = "學號 211303001 的信箱不能寄信, VPN error 809"
    assert scrub(question) == question


def test_scrub_cuts_a_very_long_message() -> None:
    assert len(scrub("字" * 10_000)) == MAX_MESSAGE
