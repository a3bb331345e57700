"""Typed answers to buttons: numbers, labels, synonyms, a part of one label."""

from __future__ import annotations

import pytest

from bot.choices import match_choice, offered_choices

LEVELS = offered_choices(
    [
        ["bachelor", "Bachelor's programme"],
        ["master", "Master's programme"],
        ["master_in_service", "In-service master's programme"],
        ["continuing", "Continuing-education bachelor's programme"],
    ],
    {"bachelor": ["學士", "Bachelor"], "master": ["碩士", "master"], "doctoral": ["PhD"]},
)


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("2", "master"),
        ("master's programme", "master"),
        ("Ｍａｓｔｅｒ", "master"),
        ("碩士", "master"),
        ("bachelor", "bachelor"),
        ("學士。", "bachelor"),
        ("in-service", "master_in_service"),
        ("continuing", "continuing"),
    ],
)
def test_a_typed_answer_names_its_choice(typed: str, value: str) -> None:
    assert match_choice(typed, LEVELS) == value


@pytest.mark.parametrize("typed", ["5", "programme", "x", "PhD", "doctor"])
def test_an_answer_that_names_no_single_choice_is_not_taken_for_one(typed: str) -> None:
    assert match_choice(typed, LEVELS) is None


def test_choices_stored_before_synonyms_existed_still_match_by_label() -> None:
    assert match_choice("Help", offered_choices([["cmd:help", "Help"]], {})) == "cmd:help"
