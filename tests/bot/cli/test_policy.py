"""``helpdesk policy check``: exit codes, the rules listed, and the password never echoed."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from bot.cli.policy import _read_password, policy_app
from core.db import create_engine, session_factory
from core.models import Account, PasswordHistory, Person, Role, StudentRecord
from core.passwords import PasswordHasher

app = typer.Typer()
app.add_typer(policy_app, name="policy")
runner = CliRunner()


def policy_check(*args: str, stdin: str) -> Result:
    return runner.invoke(app, ["policy", "check", *args], input=stdin)


# --- without an account ------------------------------------------------------------


def test_an_acceptable_password_prints_accepted_and_exits_0() -> None:
    result = policy_check("--profile", "ntust", stdin="Tz8!qRm4wX\n")
    assert result.exit_code == 0
    assert result.stdout.strip() == "accepted"


def test_a_refused_password_lists_its_code_and_english_text_and_exits_1() -> None:
    # Seed 000: the underscore is not a special symbol at NTUST.
    result = policy_check("--profile", "ntust", stdin="Abcdef1_\n")
    assert result.exit_code == 1
    assert "missing_special: Add a special symbol (_ does not count)." in result.stdout
    assert "accepted" not in result.stdout


def test_each_broken_rule_gets_its_own_line() -> None:
    result = policy_check("--profile", "ntust", stdin="abc\n")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    for code in ("too_short", "missing_upper", "missing_digit", "missing_special"):
        assert sum(code in line for line in lines) == 1, code
    assert "missing_lower" not in result.stdout


def test_ntu_output_names_its_four_special_symbols() -> None:
    # Seed 003: only ! $ # % are special, so "abcdef1@" has two classes.
    result = policy_check("--profile", "ntu", stdin="abcdef1@\n")
    assert result.exit_code == 1
    assert "too_few_classes" in result.stdout
    assert "(! $ # %)" in result.stdout


@pytest.mark.parametrize("password", ["Abcdef1_", "abc", "B10901001", "P@ssw0rd"])
def test_the_password_is_never_echoed(password: str) -> None:
    result = policy_check("--profile", "ntust", stdin=f"{password}\n")
    assert password not in result.output


def test_the_line_ending_is_not_part_of_the_password() -> None:
    # Seven characters: refused as too short, unless the line ending were counted.
    result = policy_check("--profile", "ntust", stdin="Abc1!xy\n")
    assert result.exit_code == 1
    assert "too_short" in result.stdout


def test_a_windows_line_ending_is_not_part_of_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # CliRunner translates \r\n itself; a real pipe from Windows does not.
    monkeypatch.setattr(sys, "stdin", io.StringIO(" Abc1!xy\r\n", newline=""))
    assert _read_password() == " Abc1!xy"


def test_a_password_without_a_final_newline_is_read_whole() -> None:
    assert policy_check("--profile", "ntust", stdin="Tz8!qRm4wX").exit_code == 0


def test_only_the_first_line_is_the_password() -> None:
    assert policy_check("--profile", "ntust", stdin="Tz8!qRm4wX\nabc\n").exit_code == 0


def test_an_unknown_profile_exits_2_naming_the_known_ones() -> None:
    result = policy_check("--profile", "nosuch", stdin="Tz8!qRm4wX\n")
    assert result.exit_code == 2
    assert "Unknown profile 'nosuch'" in result.stderr
    assert "ntust" in result.stderr


def test_no_password_on_stdin_exits_2() -> None:
    result = policy_check("--profile", "ntust", stdin="")
    assert result.exit_code == 2
    assert "No password" in result.stderr


def test_the_profile_option_is_required() -> None:
    assert policy_check(stdin="Tz8!qRm4wX\n").exit_code == 2


# --- with an account ---------------------------------------------------------------

HISTORY = ["Violet7Tractor", "Humming7Pebble", "Silver7Canyon"]  # newest first


async def _add_account(url: str) -> None:
    # The cheapest argon2 parameters the settings accept (OWASP's minimum).
    hasher = PasswordHasher(time_cost=2, memory_kib=19456, parallelism=1)
    now = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            person = Person(
                name_zh="陳小明",
                name_en="Chen Hsiao-Ming",
                role=Role.ALUMNUS,
                id_number_hash="0" * 64,
                birthday_hash="0" * 64,
                id_number_masked="A1******89",
                notification_email=None,
                created_at=now,
            )
            session.add(person)
            await session.flush()
            session.add(
                StudentRecord(
                    person_id=person.id,
                    student_id="B09901001",
                    degree_level="bachelor",
                    department="Electrical Engineering",
                    entry_year=99,
                    status="graduated",
                )
            )
            account = Account(
                person_id=person.id,
                username="BB0990100100",
                kind="alumni",
                password_hash=hasher.hash_sync("Koala7Bridge"),
                password_changed_at=now,
                must_change=False,
            )
            session.add(account)
            await session.flush()
            for days, old in enumerate(HISTORY, start=1):
                session.add(
                    PasswordHistory(
                        account_id=account.id,
                        password_hash=hasher.hash_sync(old),
                        created_at=now - dt.timedelta(days=days),
                    )
                )
    finally:
        await engine.dispose()


@pytest.fixture
def alumni_account(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    asyncio.run(_add_account(database_url))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("HELPDESK_HOME", str(tmp_path))
    monkeypatch.setenv("HELPDESK_ARGON2_TIME_COST", "2")
    monkeypatch.setenv("HELPDESK_ARGON2_MEMORY_KIB", "19456")
    monkeypatch.setenv("HELPDESK_ARGON2_PARALLELISM", "1")
    return "BB0990100100"


@pytest.mark.parametrize("password", ["Koala7Bridge", "Violet7Tractor", "Humming7Pebble"])
def test_ntu_refuses_the_current_and_the_two_earlier_passwords(
    alumni_account: str, password: str
) -> None:
    # Seed 003: 密碼不得與前三次相同; the current password is one of the three.
    result = policy_check("--profile", "ntu", "--account", alumni_account, stdin=f"{password}\n")
    assert result.exit_code == 1
    assert "reused: This is one of your last 3 passwords" in result.stdout


def test_ntu_accepts_the_fourth_password_back(alumni_account: str) -> None:
    result = policy_check("--profile", "ntu", "--account", alumni_account, stdin="Silver7Canyon\n")
    assert result.exit_code == 0, result.output


def test_ntust_counts_only_the_current_password_as_reused(alumni_account: str) -> None:
    # Seed 000: 不得與上次密碼相同, so the password before it is allowed again.
    args = ("--profile", "ntust", "--account", alumni_account)
    current = policy_check(*args, stdin="Koala7Bridge\n")
    earlier = policy_check(*args, stdin="Violet7Tractor\n")
    assert "reused: This is your previous password; choose a new one." in current.stdout
    assert "missing_special" in earlier.stdout
    assert "reused" not in earlier.stdout


@pytest.mark.parametrize("password", ["Chen#2024xyz", "b09901001Xy!", "x陳小明Koala7!"])
def test_the_accounts_names_and_student_id_count_as_personal_data(
    alumni_account: str, password: str
) -> None:
    result = policy_check("--profile", "ntu", "--account", alumni_account, stdin=f"{password}\n")
    assert result.exit_code == 1
    assert "contains_personal" in result.stdout
    assert password not in result.output


def test_an_unknown_account_exits_2(alumni_account: str) -> None:
    result = policy_check("--profile", "ntu", "--account", "nobody", stdin="Koala7Bridge\n")
    assert result.exit_code == 2
    assert "No account named 'nobody'" in result.stderr
