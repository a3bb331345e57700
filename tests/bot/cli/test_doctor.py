"""``helpdesk doctor`` against the real libraries and stand-ins on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.settings import Settings
from tests.bot.cli.conftest import helpdesk
from tests.bot.cli.test_directory_commands import ldap_profile_file
from tests.ldap_server import SERVICE_PASSWORD, SlapdServer, slapd_server
from tests.line_stub import ACCESS_TOKEN, LineApiStub
from tests.live import free_port
from tests.slack_stub import WebApiStub
from tests.smtp import SmtpSink
from tests.telegram_stub import BotApiStub

pytest_plugins = ["tests.telegram_fixtures", "tests.slack_fixtures", "tests.line_fixtures"]
__all__ = ["slapd_server"]

TELEGRAM_TOKEN = "123456:doctor-test-token"


@pytest.fixture
def platforms(
    cli_env: Settings,
    monkeypatch: pytest.MonkeyPatch,
    bot_api: BotApiStub,
    slack_api: WebApiStub,
    line_api: LineApiStub,
) -> None:
    for name, value in {
        "HELPDESK_TELEGRAM_TOKEN": TELEGRAM_TOKEN,
        "HELPDESK_TELEGRAM_SECRET": "telegram-webhook-secret",
        "HELPDESK_TELEGRAM_API_URL": bot_api.base_url,
        "HELPDESK_SLACK_BOT_TOKEN": "xoxb-doctor-test",
        "HELPDESK_SLACK_SIGNING_SECRET": "slack-signing-secret",
        "HELPDESK_SLACK_API_URL": slack_api.base_url,
        "HELPDESK_LINE_CHANNEL_SECRET": "line-channel-secret",
        "HELPDESK_LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
        "HELPDESK_LINE_API_URL": line_api.base_url,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("platforms")
async def test_doctor_checks_each_service_without_sending_anything_and_passes(
    monkeypatch: pytest.MonkeyPatch, bot_api: BotApiStub, slack_api: WebApiStub
) -> None:
    with SmtpSink() as sink:
        monkeypatch.setenv("HELPDESK_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("HELPDESK_SMTP_PORT", str(sink.port))
        result = await asyncio.to_thread(helpdesk, "doctor")
        assert sink.messages == []
    assert result.exit_code == 0, result.output
    assert "migrations at head" in result.output
    assert f"127.0.0.1:{sink.port} answers EHLO" in result.output
    assert "getMe: @helpdesk_test_bot" in result.output
    assert "auth.test: helpdesk" in result.output
    assert "bot info:" in result.output
    assert [name for name, _ in bot_api.calls] == ["getMe"]
    assert [name for name, _ in slack_api.calls] == ["auth.test"]
    assert "Everything checked is in order." in result.output
    assert TELEGRAM_TOKEN not in result.output


@pytest.mark.usefixtures("platforms")
async def test_doctor_names_each_failure_with_its_fix_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, bot_api: BotApiStub
) -> None:
    monkeypatch.setenv("HELPDESK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("HELPDESK_SMTP_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("HELPDESK_TELEGRAM_TOKEN", "not a token")
    monkeypatch.setenv("HELPDESK_CARD_KEY", "not-a-fernet-key")
    result = await asyncio.to_thread(helpdesk, "doctor")
    assert result.exit_code == 1
    lines = result.output.splitlines()

    def row(name: str) -> str:
        return next(line for line in lines if line.startswith(f"│ {name} "))

    assert "FAIL" in row("smtp") and "HELPDESK_SMTP_HOST" in row("smtp")
    assert "FAIL" in row("telegram") and "getMe refused (401)" in row("telegram")
    assert "FAIL" in row("card key") and "Fernet" in row("card key")
    assert "ok" in row("database")
    assert "3 check(s) failed." in result.output
    bot_api.violations.clear()  # the malformed token was the point


def test_doctor_says_to_upgrade_a_database_that_is_not_migrated(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("HELPDESK_HOME", str(cli_env.home / "elsewhere"))
    result = helpdesk("doctor")
    assert result.exit_code == 1
    assert "no helpdesk tables" in result.output and "helpdesk db upgrade" in result.output


def test_doctor_binds_to_an_ldap_directory_and_names_a_wrong_bind_password(
    cli_env: Settings, slapd_server: SlapdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPDESK_PROFILE", str(ldap_profile_file(tmp_path, slapd_server.uri)))
    monkeypatch.setenv("HELPDESK_DIRECTORY_BIND_PASSWORD", SERVICE_PASSWORD)
    good = helpdesk("doctor")
    monkeypatch.setenv("HELPDESK_DIRECTORY_BIND_PASSWORD", "not-the-password")
    bad = helpdesk("doctor")
    assert good.exit_code == 0, good.output
    assert f"ldap: bound and searched {slapd_server.uri}" in good.output
    assert bad.exit_code == 1
    row = next(line for line in bad.output.splitlines() if line.startswith("│ directory "))
    assert "FAIL" in row and "HELPDESK_DIRECTORY_BIND_PASSWORD" in bad.output
    assert "not-the-password" not in bad.output


def test_doctor_without_the_bind_password_names_the_setting_instead_of_a_traceback(
    cli_env: Settings, slapd_server: SlapdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPDESK_PROFILE", str(ldap_profile_file(tmp_path, slapd_server.uri)))
    monkeypatch.delenv("HELPDESK_DIRECTORY_BIND_PASSWORD", raising=False)
    result = helpdesk("doctor")
    assert result.exit_code == 1
    row = next(line for line in result.output.splitlines() if line.startswith("│ directory "))
    assert "FAIL" in row
    assert "HELPDESK_DIRECTORY_BIND_PASSWORD is not set" in row
    assert "LDAPPasswordIsMandatoryError" not in result.output


def test_doctor_warns_that_an_unsynced_index_finds_nobody_until_the_sync(
    cli_env: Settings, slapd_server: SlapdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPDESK_PROFILE", str(ldap_profile_file(tmp_path, slapd_server.uri)))
    monkeypatch.setenv("HELPDESK_DIRECTORY_BIND_PASSWORD", SERVICE_PASSWORD)

    def directory_row() -> str:
        result = helpdesk("doctor")
        assert result.exit_code == 0, result.output  # a warning, not a failure
        return next(line for line in result.output.splitlines() if line.startswith("│ directory "))

    before = directory_row()
    assert "warn" in before and "the index is empty" in before
    assert "helpdesk directory sync" in before
    assert helpdesk("directory", "sync").exit_code == 0
    after = directory_row()
    assert "ok" in after and "index is empty" not in after
