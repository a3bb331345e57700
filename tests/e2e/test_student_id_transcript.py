"""Console transcripts of a successful student ID lookup, in both languages."""

from __future__ import annotations

import pytest

from tests.e2e.test_cli import helpdesk
from tests.e2e.test_console import chat


@pytest.fixture
def seeded(env: dict[str, str]) -> dict[str, str]:
    assert helpdesk(env, "db", "seed-demo").returncode == 0
    return env


def test_a_successful_lookup_in_english(seeded: dict[str, str]) -> None:
    out = chat(seeded, "en", ["1", "Master's programme", "a128573490", "2001/3/14"])
    assert (
        "Which degree programme were you admitted to?\n"
        "  1. Bachelor's programme\n  2. Master's programme\n"
        "  3. Doctoral programme\n  4. Continuing-education bachelor's programme\n\n"
        "Please type your national ID number (身分證字號), or your resident certificate "
        "number (居留證號) if you hold one.\n\n"
        "Please type your birthday, for example 1996-01-02, or in the ROC calendar 85/01/02.\n\n"
        "Your student ID is 211303001.\n"
        "Your campus mailbox is a211303001@grad.demo.edu.tw.\n"
        "Log in to Demo University campus portal at http://127.0.0.1:8080/ with your "
        "student ID as the account.\n"
    ) in out


def test_a_successful_lookup_in_chinese_with_full_width_input(seeded: dict[str, str]) -> None:
    out = chat(seeded, "zh-TW", ["查詢學號", "博士班", "Ｈ８０３５２７１６２", "８７／９／３０"])
    assert "您的學號是 311204004。\n您的校園電子信箱是 a311204004@grad.demo.edu.tw。" in out


def test_a_miss_in_the_console_gives_the_uniform_answer(seeded: dict[str, str]) -> None:
    out = chat(seeded, "en", ["1", "1", "A128573490", "2001/3/14"])
    assert "No student ID matches these details." in out
    assert "211303001" not in out
