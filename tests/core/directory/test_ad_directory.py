"""Active Directory specifics: unicodePwd and AD's extended error data (no server needed)."""

from __future__ import annotations

import datetime as dt

import pytest

from core.directory import AccountLocked, PasswordRefused, Refusal, WrongPassword
from core.directory.ad import (
    AdDirectory,
    BindProblem,
    bind_problem,
    filetime,
    must_change_flag,
    password_correct,
    system_error,
    unicode_pwd,
)
from core.pii import PiiHasher
from core.profiles import load_profile_file
from core.resources import profiles_dir

# What AD answers, as its diagnostic messages read.
WRONG = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563"
MUST_RESET = (
    "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 773, v4563"
)
LOCKED = WRONG.replace("data 52e", "data 775")
POLICY = (
    "0000052D: Constraint violation - check_password_restrictions: the password does not meet"
    " the complexity criteria!\x00"
)
OLD_WRONG = "00000056: AtrErr: DSID-03191083, #1:\n\t0: 00000056: DSID-03191083, problem 1005"


def test_unicode_pwd_is_the_quoted_password_in_utf16le() -> None:
    assert unicode_pwd("Ab1!") == b'"\x00A\x00b\x001\x00!\x00"\x00'
    assert unicode_pwd("密碼Aa1!").decode("utf-16-le") == '"密碼Aa1!"'


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (WRONG, BindProblem.WRONG_PASSWORD),
        (MUST_RESET, BindProblem.MUST_RESET),
        (LOCKED, BindProblem.LOCKED),
        ("80090308: LdapErr: ... data 532, v4563", BindProblem.PASSWORD_EXPIRED),
        ("invalidCredentials", None),
    ],
)
def test_the_data_code_of_a_failed_bind_is_read(message: str, problem: BindProblem | None) -> None:
    assert bind_problem(message) is problem


def test_a_must_reset_or_expired_bind_still_proves_the_password() -> None:
    assert password_correct(BindProblem.MUST_RESET)
    assert password_correct(BindProblem.PASSWORD_EXPIRED)
    assert not password_correct(BindProblem.WRONG_PASSWORD)
    assert not password_correct(None)


def test_the_system_error_opens_a_refused_modify() -> None:
    assert system_error(POLICY) == 0x52D
    assert system_error(OLD_WRONG) == 0x56
    assert system_error("no code here") is None


def _directory() -> AdDirectory:
    profile = load_profile_file(profiles_dir() / "examples" / "ad.toml")
    return AdDirectory(profile, pii=PiiHasher(b"0" * 32), bind_password="unused")


def test_a_policy_refusal_0000052d_becomes_a_quality_refusal() -> None:
    with pytest.raises(PasswordRefused) as refused:
        _directory()._check_modify({"result": 19, "message": POLICY, "description": "x"})
    assert refused.value.refusal is Refusal.QUALITY


def test_a_wrong_old_password_on_change_is_wrong_password() -> None:
    with pytest.raises(WrongPassword):
        _directory()._check_modify({"result": 19, "message": OLD_WRONG, "description": "x"})


def test_pwd_last_set_zero_means_must_change_and_filetimes_read_as_dates() -> None:
    assert must_change_flag("0")
    assert not must_change_flag("133500000000000000")
    assert filetime("0") is None
    when = filetime("133500000000000000")
    assert when is not None and when.tzinfo is dt.UTC and when.year == 2024


def test_locked_is_an_error_type_of_its_own() -> None:
    assert issubclass(AccountLocked, Exception)
    assert not issubclass(AccountLocked, WrongPassword)
