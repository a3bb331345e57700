"""The password policy engine, case by case from the seeds each profile was built on."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence

import pytest

from core.password_policy import (
    PasswordPolicy,
    Requirement,
    Violation,
    check,
    describe,
    must_change,
    policy_as_json,
    requirements,
)
from core.password_words import strength
from core.profiles import load_profile

V = Violation
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
TAIPEI = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def policy(name: str) -> PasswordPolicy:
    return load_profile(name).password_policy


def codes(name: str, password: str, personal: Sequence[str] = ()) -> list[Violation]:
    return [r.code for r in check(policy(name), password, personal=personal)]


# --- NTUST, seed 000 (GCB) ---------------------------------------------------------


@pytest.mark.parametrize("password", ["Tulipz1!", "Abc1!xyz", "Koala7Bridge!"])
def test_ntust_accepts_eight_or_more_with_upper_lower_digit_and_symbol(password: str) -> None:
    assert codes("ntust", password) == []


def test_ntust_does_not_count_the_underscore_as_a_special_symbol() -> None:
    # Seed 000: 特殊符號(不含_底線) / "special symbols (not include _ underline)".
    assert codes("ntust", "Tulipz1_") == [V.MISSING_SPECIAL]


@pytest.mark.parametrize("symbol", list("!@#$%^&*-+=~?.,;:/\\|'\"()[]{}<> "))
def test_ntust_counts_every_other_symbol_as_special(symbol: str) -> None:
    assert codes("ntust", f"Koala7Bridge{symbol}") == []


@pytest.mark.parametrize(
    ("password", "missing"),
    [
        ("tulipzx1!", V.MISSING_UPPER),
        ("TULIPZX1!", V.MISSING_LOWER),
        ("Abcdefgh!", V.MISSING_DIGIT),
        ("Koala7Bridge", V.MISSING_SPECIAL),
    ],
)
def test_ntust_names_the_one_class_that_is_missing(password: str, missing: Violation) -> None:
    assert codes("ntust", password) == [missing]


def test_ntust_refuses_seven_characters_and_accepts_eight() -> None:
    assert codes("ntust", "Abc1!xy") == [V.TOO_SHORT]
    assert codes("ntust", "Abc1!xyz") == []


def test_ntust_checklist_is_length_four_classes_common_personal_and_the_last_password() -> None:
    checklist = requirements(policy("ntust"))
    assert [r.code for r in checklist] == [
        V.TOO_SHORT,
        V.MISSING_UPPER,
        V.MISSING_LOWER,
        V.MISSING_DIGIT,
        V.MISSING_SPECIAL,
        V.TOO_COMMON,
        V.CONTAINS_PERSONAL,
        V.REUSED,
    ]
    assert checklist[0].params == {"min": 8}
    assert checklist[4].params == {"excluded": "_"}
    # Seed 000: 不得與上次密碼相同, only the previous password.
    assert checklist[-1].msgid == "Not your previous password"


def test_an_ntust_password_not_changed_since_the_gcb_announcement_must_change() -> None:
    # Seed 000: from 2020/10/14 (Taipei) everyone must set a password under the rules.
    before = dt.datetime(2020, 10, 13, 23, 59, tzinfo=TAIPEI)
    later = before + dt.timedelta(days=30)
    result = must_change(policy("ntust"), changed_at=before, now=later, must_change_flag=False)
    assert result == V.MUST_CHANGE


def test_the_ntust_announcement_day_is_a_taipei_date_not_a_utc_one() -> None:
    # 00:30 on 2020-10-14 in Taipei is still 2020-10-13 in UTC.
    on_the_day = dt.datetime(2020, 10, 14, 0, 30, tzinfo=TAIPEI).astimezone(dt.UTC)
    assert on_the_day.date() == dt.date(2020, 10, 13)
    later = on_the_day + dt.timedelta(days=1)
    result = must_change(policy("ntust"), changed_at=on_the_day, now=later, must_change_flag=False)
    assert result is None


def test_an_ntust_password_expires_after_a_year() -> None:
    # Seed 000: 密碼有效期間為一年 (valid for one year).
    ntust = policy("ntust")
    fresh = NOW - dt.timedelta(days=364, hours=23)
    stale = NOW - dt.timedelta(days=365)
    assert must_change(ntust, changed_at=fresh, now=NOW, must_change_flag=False) is None
    assert must_change(ntust, changed_at=stale, now=NOW, must_change_flag=False) == V.EXPIRED


def test_the_must_change_flag_forces_a_change_even_for_a_fresh_password() -> None:
    result = must_change(policy("ntust"), changed_at=NOW, now=NOW, must_change_flag=True)
    assert result == V.MUST_CHANGE


def test_must_change_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        must_change(
            policy("ntust"), changed_at=NOW.replace(tzinfo=None), now=NOW, must_change_flag=False
        )


# --- NTUE, seed 001 ----------------------------------------------------------------


@pytest.mark.parametrize("password", ["tulipzx1!", "TULIPZX1!", "koala7-bridge"])
def test_ntue_accepts_letters_of_either_case_with_digits_and_a_symbol(password: str) -> None:
    # Seed 001: 密碼須包含英數字及特殊符號; the case of the letter does not matter.
    assert codes("ntue", password) == []


@pytest.mark.parametrize(
    ("password", "missing"),
    [
        ("24681359!", V.MISSING_LETTER),
        ("abcdefgh!", V.MISSING_DIGIT),
        ("abcdefg12", V.MISSING_SPECIAL),
    ],
)
def test_ntue_names_the_missing_letter_digit_or_symbol(password: str, missing: Violation) -> None:
    assert codes("ntue", password) == [missing]


def test_ntue_refuses_passwords_under_eight_characters() -> None:
    # Seed 001: 密碼長度至少8碼.
    assert codes("ntue", "ab1!xyz") == [V.TOO_SHORT]


def test_ntue_checklist_asks_for_a_letter_not_for_three_of_four_classes() -> None:
    checklist = [r.code for r in requirements(policy("ntue"))]
    assert checklist[:4] == [V.TOO_SHORT, V.MISSING_LETTER, V.MISSING_DIGIT, V.MISSING_SPECIAL]
    assert V.TOO_FEW_CLASSES not in checklist
    assert V.MISSING_UPPER not in checklist


# --- NTHU, seed 002 ----------------------------------------------------------------


def test_nthu_refuses_password1_as_common_and_weak() -> None:
    # Seed 002: 密碼強度須為「好」或「極強」 (GOOD or STRONG).
    assert codes("nthu", "Password1") == [V.TOO_COMMON, V.TOO_WEAK]


def test_nthu_refuses_a_gcb_shaped_password_that_is_easy_to_guess() -> None:
    # It would pass NTUST's class rules; NTHU's strength meter still rates it weak.
    assert codes("ntust", "Tulipz1!") == []
    assert codes("nthu", "Tulipz1!") == [V.TOO_WEAK]


@pytest.mark.parametrize("password", ["violet tractor humming pebble", "Koala7Bridge"])
def test_nthu_accepts_a_password_rated_good_or_strong(password: str) -> None:
    assert strength(password) >= 3
    assert codes("nthu", password) == []


def test_nthu_checklist_shows_the_strength_rule_and_no_class_rules() -> None:
    checklist = requirements(policy("nthu"))
    assert [r.code for r in checklist] == [
        V.TOO_SHORT,
        V.TOO_COMMON,
        V.TOO_WEAK,
        V.CONTAINS_PERSONAL,
        V.REUSED,
    ]
    assert checklist[2].params == {"score": 3}


def test_zxcvbn_is_told_the_users_personal_words() -> None:
    password = "Xiaolongbao-Tsai"
    assert strength(password) == 4
    assert strength(password, ["Tsai Xiaolongbao"]) < 3


def test_a_password_longer_than_zxcvbn_allows_is_still_rated() -> None:
    # zxcvbn 4.5 raises on more than 72 characters; the engine rates the first 72.
    assert codes("nthu", "x7Qm" * 25) == [V.TOO_WEAK]
    assert codes("nthu", "violet tractor humming pebble " * 4) == []


def test_an_empty_password_is_too_short_and_too_weak_without_crashing() -> None:
    assert codes("nthu", "") == [V.TOO_SHORT, V.TOO_WEAK]


# --- NTU alumni, seed 003 ----------------------------------------------------------


@pytest.mark.parametrize("password", ["Koala7Bridge", "koala7bridge!", "KOALA!BRIDGE7", "tulipz1$"])
def test_ntu_accepts_three_of_the_four_classes(password: str) -> None:
    assert codes("ntu", password) == []


def test_ntu_abcdefg1_meets_three_of_four_but_is_a_common_password() -> None:
    # Upper, lower and digit satisfy seed 003, but "abcdefg1" is on the breach list.
    assert codes("ntu", "Abcdefg1") == [V.TOO_COMMON]


@pytest.mark.parametrize("password", ["abcdefg!", "KOALA!BRIDGE", "koalabridge7"])
def test_ntu_refuses_two_classes(password: str) -> None:
    assert codes("ntu", password) == [V.TOO_FEW_CLASSES]


@pytest.mark.parametrize("symbol", list("!$#%"))
def test_ntu_counts_the_four_seed_symbols_as_special(symbol: str) -> None:
    assert codes("ntu", f"koalabridge{symbol}7") == []


@pytest.mark.parametrize("symbol", list("@_&*-+.~ "))
def test_ntu_counts_no_other_symbol_as_special(symbol: str) -> None:
    # Seed 003: 特殊符號(!、$、#、%), so "tulipz1@" has only two classes.
    assert codes("ntu", f"tulipz1{symbol}") == [V.TOO_FEW_CLASSES]


def test_ntu_checklist_lists_three_of_four_and_not_one_of_the_last_three() -> None:
    checklist = requirements(policy("ntu"))
    assert [r.code for r in checklist] == [
        V.TOO_SHORT,
        V.TOO_FEW_CLASSES,
        V.TOO_COMMON,
        V.CONTAINS_PERSONAL,
        V.REUSED,
    ]
    assert checklist[1].params == {"min": 3, "symbols": "! $ # %"}
    # Seed 003: 密碼不得與前三次相同.
    assert checklist[-1] == Requirement(V.REUSED, "Not one of your last {n} passwords", {"n": 3})


def test_an_ntu_default_password_must_change_at_first_login_but_never_expires() -> None:
    # Seed 003: 首次登入須變更密碼; no expiry stated.
    ntu = policy("ntu")
    old = NOW - dt.timedelta(days=3000)
    assert must_change(ntu, changed_at=old, now=NOW, must_change_flag=True) == V.MUST_CHANGE
    assert must_change(ntu, changed_at=old, now=NOW, must_change_flag=False) is None


# --- the common and breached list (core.password_words) ----------------------------


@pytest.mark.parametrize("name", ["ntust", "ntue", "ntu", "nthu", "demo"])
def test_every_profile_refuses_a_common_password_that_meets_its_classes(name: str) -> None:
    assert V.TOO_COMMON in codes(name, "P@ssw0rd")


# --- personal data -----------------------------------------------------------------


def test_a_student_id_inside_the_password_is_refused() -> None:
    assert codes("ntust", "B10901001Xy!") == []
    assert codes("ntust", "B10901001Xy!", ["B10901001"]) == [V.CONTAINS_PERSONAL]


@pytest.mark.parametrize("password", ["xb10901001Y!", "Ｂ１０９０１００１Xy!a"])
def test_personal_data_matches_regardless_of_case_and_width(password: str) -> None:
    assert V.CONTAINS_PERSONAL in codes("ntust", password, ["B10901001"])


def test_a_part_of_the_english_name_of_three_letters_or_more_is_refused() -> None:
    personal = ["Chen Hsiao-Ming"]
    assert codes("ntust", "Ming#2024Rx", personal) == [V.CONTAINS_PERSONAL]
    assert codes("ntust", "Rchen#2024x", personal) == [V.CONTAINS_PERSONAL]


def test_name_parts_under_three_letters_are_ignored() -> None:
    assert codes("ntust", "Lily7#Pond", ["Li", "Yi"]) == []


def test_the_chinese_name_inside_the_password_is_refused() -> None:
    assert codes("ntust", "Xy!王小明a1", ["王小明"]) == [V.CONTAINS_PERSONAL]


def test_personal_data_is_not_checked_when_the_profile_allows_it() -> None:
    lenient = policy("ntust").model_copy(update={"forbid_personal_data": False})
    assert check(lenient, "B10901001Xy!", personal=["B10901001"]) == []
    assert V.CONTAINS_PERSONAL not in [r.code for r in requirements(lenient)]


# --- results and texts -------------------------------------------------------------


def test_a_password_over_the_maximum_is_refused_as_too_long() -> None:
    assert codes("demo", "Koala7Bridge!" * 5)[0] == V.TOO_LONG
    assert describe(policy("demo"), V.TOO_LONG).params == {"max": 64}


def test_check_never_reports_reuse_and_never_returns_the_password() -> None:
    password = "B10901001Xy!"
    unmet = check(policy("ntu"), password, personal=["B10901001"])
    assert V.REUSED not in [r.code for r in unmet]
    assert password not in repr(unmet)


@pytest.mark.parametrize("name", ["ntust", "ntue", "ntu", "nthu", "demo"])
@pytest.mark.parametrize("code", list(Violation))
def test_every_rule_has_a_label_and_a_message_with_the_same_filled_placeholders(
    name: str, code: Violation
) -> None:
    requirement = describe(policy(name), code)
    label, message = requirement.msgid, requirement.message
    assert label != message
    assert set(PLACEHOLDER.findall(label)) == set(PLACEHOLDER.findall(message))
    assert {p[1:-1] for p in PLACEHOLDER.findall(label)} <= set(requirement.params)
    assert "{" not in label.format(**requirement.params)


# --- the browser's live checklist --------------------------------------------------


def _browser_unmet(rules: list[dict[str, object]], password: str) -> set[str]:
    """What a browser would mark unmet from the JSON alone, as a page script would."""

    def has(rule: object, char: str) -> bool:
        assert isinstance(rule, dict)
        if rule["chars"] is not None:
            return char in str(rule["chars"])
        return char not in str(rule["not"]) and char.isprintable() and not char.isalnum()

    unmet: set[str] = set()
    for rule in rules:
        code = str(rule["code"])
        if rule["kind"] == "min_length":
            assert isinstance(rule["value"], int)
            if len(password) < rule["value"]:
                unmet.add(code)
        elif rule["kind"] == "class":
            if not any(has(rule, char) for char in password):
                unmet.add(code)
        elif rule["kind"] == "classes":
            classes = rule["classes"]
            assert isinstance(classes, list) and isinstance(rule["value"], int)
            if sum(any(has(c, char) for char in password) for c in classes) < rule["value"]:
                unmet.add(code)
    return unmet


@pytest.mark.parametrize("name", ["ntust", "ntue", "ntu", "nthu", "demo"])
@pytest.mark.parametrize(
    "password", ["", "Abcdef1_", "abcdef1@", "koala7bridge$", "24681357!", "ABCDEFGH", "Ab1!"]
)
def test_the_browser_rules_agree_with_the_server_on_length_and_classes(
    name: str, password: str
) -> None:
    rules = policy_as_json(policy(name))
    server = {r.code.value for r in check(policy(name), password)}
    local = {str(rule["code"]) for rule in rules if rule["kind"] != "server"}
    assert _browser_unmet(rules, password) == server & local


def test_the_browser_rules_are_json_with_one_rule_per_requirement() -> None:
    ntu = policy("ntu")
    rules = json.loads(json.dumps(policy_as_json(ntu)))
    assert [rule["code"] for rule in rules] == [r.code.value for r in requirements(ntu)]
    assert rules[0] == {
        "code": "too_short",
        "msgid": "At least {min} characters",
        "params": {"min": 8},
        "kind": "min_length",
        "value": 8,
    }
    assert rules[1]["kind"] == "classes"
    assert rules[1]["value"] == 3
    assert rules[1]["classes"][3] == {"class": "special", "chars": "!$#%", "not": ""}
    assert {rule["kind"] for rule in rules[2:]} == {"server"}


def test_the_ntust_special_rule_accepts_any_symbol_but_the_underscore() -> None:
    rules = policy_as_json(policy("ntust"))
    special = next(rule for rule in rules if rule["code"] == "missing_special")
    assert special["kind"] == "class"
    assert special["chars"] is None
    assert special["not"] == "_"
