"""Institution profiles: the shipped files load, carry the seeds' facts, and a bad
file is refused with an error that names the file and the field."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from core.errors import ProfileError
from core.profiles import (
    Profile,
    available_profiles,
    load_profile,
    load_profile_file,
)
from core.resources import profiles_dir

SHIPPED = ("demo", "nthu", "ntu", "ntue", "ntust")
REAL = ("nthu", "ntu", "ntue", "ntust")

# Mainland usages a Taiwanese reader would trip over, with the Taiwanese term to use.
MAINLAND_TERMS = {
    "账号": "帳號",
    "帐号": "帳號",
    "学号": "學號",
    "密码": "密碼",
    "邮箱": "信箱",
    "默认": "預設",
    "默認": "預設",
    "登录": "登入",
    "登錄": "登入",
    "用户": "使用者",
    "用戶": "使用者",
    "信息": "資訊",
    "身份证": "身分證字號",
    "身份證": "身分證字號",
    "字符": "字元",
    "设置": "設定",
    "設置": "設定",
}


def _zh_texts(profile: Profile) -> list[str]:
    accounts = profile.accounts
    texts = [
        profile.display_name.zh_TW,
        accounts.portal_name.zh_TW,
        profile.password_policy.summary.zh_TW,
        *(level.name.zh_TW for level in profile.degree_levels),
    ]
    if accounts.first_login_password is not None:
        texts.append(accounts.first_login_password.zh_TW)
    for group in ("student", "resident_student", "alumnus"):
        guidance = profile.guidance(group)  # type: ignore[arg-type]
        texts += [t.zh_TW for t in (guidance.portal_name, guidance.first_login_password) if t]
    texts += [contact.name.zh_TW for contact in profile.contacts.values()]
    return texts


def _demo_with(tmp_path: Path, old: str, new: str) -> Path:
    """Write demo.toml to tmp_path with exactly one occurrence of ``old`` replaced."""
    text = (profiles_dir() / "demo.toml").read_text(encoding="utf-8")
    assert text.count(old) == 1, f"demo.toml no longer contains {old!r} exactly once"
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


# --- every shipped profile -------------------------------------------------------


def test_the_shipped_profiles_are_demo_and_the_four_universities() -> None:
    assert tuple(available_profiles()) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads_and_is_named_after_its_file(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_profile_loads_the_same_by_path_as_by_name(name: str) -> None:
    by_path = load_profile_file(profiles_dir() / f"{name}.toml")
    assert by_path == load_profile(name)


@pytest.mark.parametrize("name", REAL)
def test_every_real_profile_cites_the_seeds_it_was_built_from(name: str) -> None:
    profile = load_profile(name)
    assert profile.sources
    for source in profile.sources:
        assert re.fullmatch(r"seeds/\d{3}_[0-9a-f]{16}\.txt", source), source
    text = (profiles_dir() / f"{name}.toml").read_text(encoding="utf-8")
    for source in profile.sources:
        assert f"seed {source[6:9]}" in text, f"{name}.toml cites no fact from {source}"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_profiles_degree_levels_have_unique_codes_and_both_languages(name: str) -> None:
    levels = load_profile(name).degree_levels
    codes = [level.code for level in levels]
    assert len(codes) == len(set(codes))
    for level in levels:
        assert re.search(r"[\u4e00-\u9fff]", level.name.zh_TW), level.name.zh_TW
        assert level.name.zh_TW.endswith("班"), level.name.zh_TW
        assert level.name.en.isascii() and level.name.en.strip(), level.name.en


@pytest.mark.parametrize("name", SHIPPED)
def test_every_profile_offers_a_bachelors_programme(name: str) -> None:
    bachelor = load_profile(name).degree_level("bachelor")
    assert bachelor is not None
    assert bachelor.name.zh_TW == "學士班"
    assert load_profile(name).degree_level("no_such_level") is None


@pytest.mark.parametrize("name", SHIPPED)
def test_zh_tw_texts_use_taiwanese_terms_not_mainland_ones(name: str) -> None:
    for text in _zh_texts(load_profile(name)):
        for mainland, taiwanese in MAINLAND_TERMS.items():
            assert mainland not in text, f"{name}: write {taiwanese}, not {mainland}: {text}"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_profile_keeps_taiwans_baseline_lockout(name: str) -> None:
    # 資通系統防護基準: lock for at least 15 minutes after 5 failed attempts.
    limits = load_profile(name).limits
    assert limits.failures_per_user <= 5
    assert limits.lockout_minutes >= 15


@pytest.mark.parametrize("name", SHIPPED)
def test_every_profile_forces_a_change_of_a_default_password(name: str) -> None:
    # 資通系統防護基準 and seed 003: a school-set default password must be changed.
    assert load_profile(name).password_policy.force_change_default is True


# --- student ID formats ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "valid", "invalid"),
    [
        ("ntust", ["B10901001", "M10902101", "D10903001"], ["10901001", "b10901001", "B1090100"]),
        ("ntue", ["211300001"], ["21130001", "2113000011", "a211300001", "2113##001"]),
        ("nthu", ["110062101"], ["", "110 062101", "11006210!"]),
        ("ntu", ["B09901001", "R10921001"], ["09901001", "B0990100", "BB0990100100"]),
    ],
)
def test_student_id_patterns_accept_the_schools_format_and_refuse_others(
    name: str, valid: list[str], invalid: list[str]
) -> None:
    pattern = re.compile(load_profile(name).accounts.student_id_pattern)
    for student_id in valid:
        assert pattern.fullmatch(student_id), f"{name} refuses {student_id}"
    for student_id in invalid:
        assert not pattern.fullmatch(student_id), f"{name} accepts {student_id}"


# --- seed facts: NTUST (seed 000) ------------------------------------------------


def test_ntust_requires_all_four_classes_and_the_underscore_is_not_special() -> None:
    policy = load_profile("ntust").password_policy
    assert policy.min_length == 8
    assert set(policy.required_classes) == {"upper", "lower", "digit", "special"}
    assert policy.not_special == "_"
    # Any other symbol counts: seed 000 excludes only the underscore.
    assert policy.special_characters is None


def test_ntust_forbids_only_the_previous_password_and_expires_after_a_year() -> None:
    policy = load_profile("ntust").password_policy
    assert policy.history == 1
    assert policy.max_age_days == 365


def test_ntust_passwords_not_changed_since_the_gcb_announcement_must_change() -> None:
    assert load_profile("ntust").password_policy.changed_before_must_change == dt.date(2020, 10, 14)


def test_ntust_has_no_alumni_account_or_campus_mail_template() -> None:
    accounts = load_profile("ntust").accounts
    assert accounts.alumni_account_for("B10901001") is None
    assert accounts.campus_mail_for("B10901001") is None


# --- seed facts: NTUE (seed 001) -------------------------------------------------


def test_ntue_campus_mail_is_a_plus_student_id_at_grad_ntue() -> None:
    accounts = load_profile("ntue").accounts
    assert accounts.campus_mail_for("211300001") == "a211300001@grad.ntue.edu.tw"
    assert accounts.mail_domain == "grad.ntue.edu.tw"


def test_ntue_needs_eight_characters_with_a_letter_a_digit_and_a_special() -> None:
    policy = load_profile("ntue").password_policy
    assert policy.min_length == 8
    # Seed 001: 英數字及特殊符號, a letter of either case, a digit and a special symbol.
    assert set(policy.required_classes) == {"letter", "digit", "special"}
    assert policy.min_classes == 0


def test_ntue_first_login_password_is_the_last_five_id_digits_and_at_ntue() -> None:
    text = load_profile("ntue").accounts.first_login_password
    assert text is not None
    assert "33445@Ntue" in text.zh_TW
    assert "33445@Ntue" in text.en


def test_ntue_offers_the_continuing_education_programme() -> None:
    level = load_profile("ntue").degree_level("continuing")
    assert level is not None
    assert level.name.zh_TW == "進修學士班"


# --- seed facts: NTHU (seeds 002, 004) -------------------------------------------


def test_nthu_needs_a_good_or_strong_password_that_is_not_the_old_one() -> None:
    policy = load_profile("nthu").password_policy
    assert policy.zxcvbn_min_score == 3
    assert policy.history == 1


def test_nthu_mail_takes_effect_in_ten_minutes_with_the_seeds_quota() -> None:
    profile = load_profile("nthu")
    assert profile.mail.takes_effect_minutes == 10
    assert profile.mail.default_quota_kb == 62914560
    assert profile.accounts.mail_domain == "mx.nthu.edu.tw"


# --- seed facts: NTU (seed 003) --------------------------------------------------


def test_ntu_alumni_account_is_b_plus_the_original_student_id_plus_00() -> None:
    accounts = load_profile("ntu").accounts
    student_id = "B09901001"
    account = accounts.alumni_account_for(student_id)
    # Seed 003: 「學號」(B+原學號+00). Its "共9碼" does not hold for 9-character IDs;
    # the profile follows the rule, and the comment in ntu.toml says so.
    assert account == "B" + student_id + "00"
    assert account == "BB0990100100"


def test_ntu_needs_eight_characters_from_three_of_four_classes_not_the_last_three() -> None:
    policy = load_profile("ntu").password_policy
    assert policy.min_length == 8
    assert policy.min_classes == 3
    assert policy.required_classes == []
    assert policy.history == 3
    assert policy.force_change_default is True


def test_ntu_counts_only_the_seeds_four_symbols_as_special() -> None:
    policy = load_profile("ntu").password_policy
    assert policy.special_characters is not None
    assert sorted(policy.special_characters) == sorted("!$#%")
    assert policy.not_special == ""


def test_ntu_first_login_password_is_the_national_id_or_resident_certificate() -> None:
    text = load_profile("ntu").guidance("alumnus").first_login_password
    assert text is not None
    assert "身分證字號" in text.zh_TW
    assert "居留證號" in text.zh_TW


def test_ntu_alumni_card_code_rotates_every_five_minutes() -> None:
    assert load_profile("ntu").card.refresh_seconds == 300


# --- bad profiles ----------------------------------------------------------------


def test_special_characters_that_include_a_letter_are_refused(tmp_path: Path) -> None:
    path = _demo_with(tmp_path, 'not_special = "_"', 'special_characters = "!a"')
    with pytest.raises(ProfileError, match="letter, digit or space") as caught:
        load_profile_file(path)
    assert caught.value.field == "password_policy"


def test_a_symbol_both_special_and_not_special_is_refused(tmp_path: Path) -> None:
    path = _demo_with(tmp_path, 'not_special = "_"', 'not_special = "_"\nspecial_characters = "!_"')
    with pytest.raises(ProfileError, match="both") as caught:
        load_profile_file(path)
    assert caught.value.field == "password_policy"


def test_an_empty_special_characters_list_is_refused(tmp_path: Path) -> None:
    path = _demo_with(tmp_path, 'not_special = "_"', 'special_characters = ""')
    with pytest.raises(ProfileError) as caught:
        load_profile_file(path)
    assert caught.value.field == "password_policy.special_characters"


def test_a_field_of_the_wrong_type_is_refused_naming_the_file_and_the_dotted_field(
    tmp_path: Path,
) -> None:
    path = _demo_with(tmp_path, "min_length = 8", 'min_length = "eight"')
    with pytest.raises(ProfileError) as caught:
        load_profile_file(path)
    assert caught.value.path == str(path)
    assert caught.value.field == "password_policy.min_length"
    assert str(path) in str(caught.value)
    assert "password_policy.min_length" in str(caught.value)


def test_an_unknown_field_is_refused_naming_it(tmp_path: Path) -> None:
    path = _demo_with(tmp_path, "history = 3", "history = 3\nhistroy = 3")
    with pytest.raises(ProfileError) as caught:
        load_profile_file(path)
    assert caught.value.field == "password_policy.histroy"
    assert str(path) in str(caught.value)
    assert "password_policy.histroy" in str(caught.value)


def test_a_wrong_password_limit_at_the_lockout_names_the_field_and_what_to_change(
    tmp_path: Path,
) -> None:
    text = (profiles_dir() / "examples" / "ldap.toml").read_text(encoding="utf-8")
    path = tmp_path / "campus.toml"
    path.write_text(text.replace("failures_per_user = 4", "failures_per_user = 5"), "utf-8")
    with pytest.raises(ProfileError) as caught:
        load_profile_file(path)
    assert caught.value.field == "limits.failures_per_user"
    said = str(caught.value)
    assert "Value error" not in said
    assert "must stay below directory.max_failures (5" in said
    assert "lower [limits] failures_per_user" in said and "pwdMaxFailure" in said


def test_a_missing_required_field_is_refused_naming_it(tmp_path: Path) -> None:
    path = _demo_with(tmp_path, 'mail_domain = "demo.edu.tw"\n', "")
    with pytest.raises(ProfileError) as caught:
        load_profile_file(path)
    assert caught.value.field == "accounts.mail_domain"
    assert str(path) in str(caught.value)


def test_a_degree_level_without_english_is_refused_naming_its_position(
    tmp_path: Path,
) -> None:
    path = _demo_with(
        tmp_path,
        'name = { zh_TW = "碩士班", en = "Master\'s programme" }',
        'name = { zh_TW = "碩士班" }',
    )
    with pytest.raises(ProfileError) as caught:
        load_profile_file(path)
    assert caught.value.field == "degree_levels.1.name.en"


def test_an_alumni_template_without_the_student_id_is_refused(tmp_path: Path) -> None:
    path = _demo_with(tmp_path, '"B{student_id}00"', '"B00"')
    with pytest.raises(ProfileError, match=r"student_id") as caught:
        load_profile_file(path)
    assert caught.value.field == "accounts.alumni_account"


def test_a_file_that_is_not_toml_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ProfileError, match="not valid TOML") as caught:
        load_profile_file(path)
    assert caught.value.path == str(path)


def test_a_missing_profile_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ProfileError, match="no such profile file") as caught:
        load_profile(str(path))
    assert caught.value.path == str(path)


def test_ntu_sends_only_alumni_to_the_alumni_site_with_their_b_00_account() -> None:
    profile = load_profile("ntu")
    student = profile.guidance("student")
    assert student.portal_name is None and student.first_login_password is None
    alumnus = profile.guidance("alumnus")
    assert alumnus.account == "alumni_account"
    assert alumnus.portal_url == "https://www.alumni.ntu.edu.tw/"


def test_ntue_new_students_from_abroad_get_the_twelve_character_rule_only() -> None:
    profile = load_profile("ntue")
    text = profile.guidance("resident_student").first_login_password
    assert text is not None
    assert "共 12 碼" in text.zh_TW and "後五碼" not in text.zh_TW
    national = profile.guidance("student").first_login_password
    assert national is not None and "共 14 碼" in national.zh_TW


def test_ntu_alumni_centre_contact_is_seed_003s() -> None:
    contact = load_profile("ntu").contacts["alumni_centre"]
    assert contact.phone == "02-33662042"
    assert contact.hours is not None and "09:00-17:00" in contact.hours.zh_TW
