"""``helpdesk alumni approve`` on a profile whose accounts live in LDAP (a real slapd)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.services import Services
from core.models import AlumniApplication, ChatNotice
from core.settings import Settings
from tests.bot.cli.conftest import helpdesk, in_database
from tests.bot.cli.test_directory_commands import ldap_profile_file
from tests.core.test_alumni_directory import (
    NEW_ENTRY,
    NEW_ID_NUMBER,
    _apply,
    accepting_written_accounts,
)
from tests.ldap_server import PEOPLE, SERVICE_PASSWORD, SlapdServer, slapd_server

__all__ = ["slapd_server"]

DN = f"uid=B20920301100,{PEOPLE}"


def _profile(folder: Path, uri: str, mode: str) -> Path:
    """The LDAP example as a deployer copies it, with ``applications = mode``."""
    path = ldap_profile_file(folder, uri)
    text = re.sub(
        r'(?m)^applications = "queue"$', f'applications = "{mode}"', path.read_text("utf-8")
    )
    attributes = "\n".join(f'{name} = "{value}"' for name, value in NEW_ENTRY["attributes"].items())
    text += (
        f'\n[directory.new_entry]\ndn = "{NEW_ENTRY["dn"]}"\n'
        f"object_classes = {list(NEW_ENTRY['object_classes'])!r}\n".replace("'", '"')
        + f"\n[directory.new_entry.attributes]\n{attributes}\n"
    )
    path.write_text(text, encoding="utf-8")
    return path


def _apply_in(settings: Settings) -> int:
    async def work(services: Services) -> int:
        return await _apply(services)

    return in_database(settings, work)


def _state(settings: Settings, number: int) -> tuple[str, list[str]]:
    async def work(services: Services) -> tuple[str, list[str]]:
        async with services.sessions() as session:
            application = await session.get(AlumniApplication, number)
            notices = list(await session.scalars(select(ChatNotice.text)))
        assert application is not None
        return application.status, notices

    return in_database(settings, work)


def test_queue_mode_approves_and_tells_staff_to_create_the_account_by_hand(
    cli_env: Settings,
    slapd_server: SlapdServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HELPDESK_PROFILE", str(_profile(tmp_path, slapd_server.uri, "queue")))
    monkeypatch.setenv("HELPDESK_DIRECTORY_BIND_PASSWORD", SERVICE_PASSWORD)
    number = _apply_in(cli_env)
    listed = helpdesk("alumni", "applications")
    assert listed.exit_code == 0, listed.output
    assert "new person" in listed.stdout
    result = helpdesk("alumni", "approve", str(number))
    assert result.exit_code == 0, result.output
    assert "approved, account B20920301100" in result.stdout
    assert '([directory] applications = "queue")' in result.stdout
    assert "create this account by hand in the directory" in result.stdout
    assert DN in result.stdout and "applicant@example.com" in result.stdout
    assert "F1******93" in result.stdout and NEW_ID_NUMBER not in result.stdout
    assert not slapd_server.entry(DN)
    status, notices = _state(cli_env, number)
    assert status == "approved"
    assert len(notices) == 1 and "will tell you how to log in" in notices[0]


def test_write_mode_creates_the_entry_and_a_stopped_directory_leaves_the_next_pending(
    cli_env: Settings,
    slapd_server: SlapdServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = accepting_written_accounts(tmp_path / "slapd")
    try:
        monkeypatch.setenv("HELPDESK_PROFILE", str(_profile(tmp_path, server.uri, "write")))
        monkeypatch.setenv("HELPDESK_DIRECTORY_BIND_PASSWORD", SERVICE_PASSWORD)
        number = _apply_in(cli_env)
        result = helpdesk("alumni", "approve", str(number))
        assert result.exit_code == 0, result.output
        assert f"account B20920301100 written to the directory as {DN}" in " ".join(
            result.stdout.split()
        )
        assert server.binds(DN, NEW_ID_NUMBER)
        assert server.entry(DN)["pwdReset"] == ["TRUE"]
        assert _state(cli_env, number)[0] == "approved"

        again = helpdesk("alumni", "approve", str(number))
        assert again.exit_code == 1 and "is approved, not pending" in again.stderr

        server.stop()
        later = _apply_in(cli_env)
        refused = helpdesk("alumni", "approve", str(later))
        assert refused.exit_code == 1
        said = " ".join(refused.stderr.split())
        assert "was not approved and is still pending" in said
        assert "The service is temporarily unavailable. Nothing was changed" in said
        assert _state(cli_env, later) == ("pending", [_state(cli_env, number)[1][0]])
    finally:
        server.stop()
