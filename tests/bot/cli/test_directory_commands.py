"""``helpdesk directory check|sync`` against a real slapd on loopback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.profiles import profiles_dir
from core.settings import Settings
from tests.bot.cli.conftest import helpdesk
from tests.ldap_server import (
    SERVICE_PASSWORD,
    SlapdServer,
    free_port,
    slapd_server,
    write_certificates,
)

__all__ = ["slapd_server"]

LIN = "211303001"  # 林明志's account in the generated directory
LIN_ID_NUMBER = "A128573490"


def ldap_profile_file(folder: Path, *uris: str) -> Path:
    """The LDAP example profile as a deployer copies it, aimed at ``uris`` in plain LDAP."""
    text = (profiles_dir() / "examples" / "ldap.toml").read_text(encoding="utf-8")
    quoted = ", ".join(f'"{uri}"' for uri in uris)
    text = re.sub(r"(?m)^uris = .*$", f"uris = [{quoted}]", text)
    text = re.sub(r"(?m)^start_tls = .*$", "start_tls = false", text)
    text = re.sub(r"(?m)^ca_file = .*$\n", "", text)
    text = re.sub(r"(?m)^timeout_seconds = .*$", "timeout_seconds = 2", text)
    path = folder / "campus.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def ldap_env(
    cli_env: Settings, slapd_server: SlapdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SlapdServer:
    monkeypatch.setenv("HELPDESK_PROFILE", str(ldap_profile_file(tmp_path, slapd_server.uri)))
    monkeypatch.setenv("HELPDESK_DIRECTORY_BIND_PASSWORD", SERVICE_PASSWORD)
    return slapd_server


def test_check_shows_what_each_mapped_attribute_yields_with_the_id_number_masked(
    ldap_env: SlapdServer,
) -> None:
    result = helpdesk("directory", "check", LIN)
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "employeeNumber" in rows["student_id"] and LIN in rows["student_id"]
    assert "campusIdNumber" in rows["id_number"]
    assert LIN_ID_NUMBER not in result.stdout
    assert "A1******90" in rows["id_number"]
    assert "2001-03-14" not in result.stdout and "20010314" not in result.stdout
    assert ldap_env.account(LIN).dn in rows["dn"]


def test_check_shows_the_whole_dn_in_an_80_column_terminal(
    ldap_env: SlapdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = helpdesk("directory", "check", LIN)
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    values = "".join(
        line.split("│")[3].strip() for line in result.stdout.splitlines() if line.count("│") == 4
    )
    assert ldap_env.account(LIN).dn in values


def test_check_of_a_name_not_in_the_directory_exits_1_saying_so(ldap_env: SlapdServer) -> None:
    result = helpdesk("directory", "check", "nobody-here")
    assert result.exit_code == 1
    said = " ".join(result.stderr.split())
    assert "0 entries match 'nobody-here', not one" in said
    # The directory works: what to check is the name or the filters, not the servers.
    assert "cannot be used" not in said
    assert "The directory answers" in said
    assert "account_filter (|(uid={name})(mail={name}))" in said


def test_check_and_sync_without_the_bind_password_name_the_setting(
    ldap_env: SlapdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HELPDESK_DIRECTORY_BIND_PASSWORD")
    for command in (["check", LIN], ["sync"]):
        result = helpdesk("directory", *command)
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit)  # a message, not a traceback
        said = " ".join(result.stderr.split())
        assert "HELPDESK_DIRECTORY_BIND_PASSWORD is not set" in said
        assert "cn=helpdesk,ou=services,dc=demo,dc=edu,dc=tw" in said


def test_a_wrong_bind_password_exits_1_naming_the_bind_and_where_its_password_comes_from(
    ldap_env: SlapdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPDESK_DIRECTORY_BIND_PASSWORD", "not-the-password")
    result = helpdesk("directory", "check", LIN)
    assert result.exit_code == 1
    assert "the service bind failed: invalidCredentials (49)" in " ".join(result.stderr.split())
    assert "HELPDESK_DIRECTORY_BIND_PASSWORD" in result.stderr
    assert "not-the-password" not in result.output


def test_a_directory_that_does_not_answer_exits_1(
    cli_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = f"ldap://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HELPDESK_PROFILE", str(ldap_profile_file(tmp_path, nowhere)))
    monkeypatch.setenv("HELPDESK_DIRECTORY_BIND_PASSWORD", SERVICE_PASSWORD)
    for command in (["check", LIN], ["sync"]):
        result = helpdesk("directory", *command)
        assert result.exit_code == 1, result.output
        assert "The directory cannot be used: no directory server answered" in result.stderr
        assert nowhere in result.stderr


def test_a_certificate_from_another_ca_exits_1_saying_the_tls_check_failed(
    cli_env: Settings, slapd_server: SlapdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server answers StartTLS, but ca_file did not sign its certificate: the message
    says so, not that no server answered."""
    write_certificates(tmp_path)  # a CA of its own that signed nothing slapd holds
    profile = ldap_profile_file(tmp_path, slapd_server.uri)
    text = profile.read_text(encoding="utf-8").replace(
        "start_tls = false", f'start_tls = true\nca_file = "{tmp_path / "ca.pem"}"'
    )
    profile.write_text(text, encoding="utf-8")
    monkeypatch.setenv("HELPDESK_PROFILE", str(profile))
    monkeypatch.setenv("HELPDESK_DIRECTORY_BIND_PASSWORD", SERVICE_PASSWORD)
    for command in (["check", LIN], ["sync"]):
        result = helpdesk("directory", *command)
        assert result.exit_code == 1, result.output
        said = " ".join(result.stderr.split())
        assert "The directory cannot be used: the TLS handshake or certificate check failed" in (
            said
        )
        assert "no directory server answered" not in said
        assert str(tmp_path / "ca.pem") in said.replace(" ", "")


def test_sync_fills_the_index_then_takes_only_changes_and_full_reads_all_again(
    ldap_env: SlapdServer,
) -> None:
    first = helpdesk("directory", "sync")
    assert first.exit_code == 0, first.output
    assert "Full sync of the directory index" in first.stdout
    added = int(re.search(r"added\s*│\s*(\d+)", first.stdout).group(1))  # type: ignore[union-attr]
    assert added > 300

    again = helpdesk("directory", "sync")
    assert again.exit_code == 0, again.output
    assert "Changes synced into the index" in again.stdout
    assert re.search(r"added\s*│\s*0\b", again.stdout)
    assert re.search(r"updated\s*│\s*0\b", again.stdout), again.stdout  # nothing changed

    full = helpdesk("directory", "sync", "--full")
    assert full.exit_code == 0, full.output
    assert "Full sync of the directory index" in full.stdout
    assert re.search(r"updated\s*│\s*0\b", full.stdout), full.stdout
    assert re.search(rf"unchanged[^│]*│\s*{added}\b", full.stdout), full.stdout


def test_a_profile_on_sql_has_no_directory_to_check(cli_env: Settings) -> None:
    result = helpdesk("directory", "check", LIN)
    assert result.exit_code == 2
    assert "keeps accounts in the bot's own database" in result.stderr


def test_a_chat_on_ldap_warns_of_an_empty_index_until_the_first_sync(
    ldap_env: SlapdServer,
) -> None:
    """On LDAP the lookups read the synced index, not the people table: the warning
    counts the index, and tells the IT person to sync rather than to seed the demo."""
    before = helpdesk("chat", "--lang", "en", stdin="")
    assert before.exit_code == 0, before.output
    said = " ".join(before.stderr.split())
    assert "helpdesk directory sync" in said
    assert "seed-demo" not in said and "db import" not in said

    assert helpdesk("directory", "sync").exit_code == 0
    after = helpdesk("chat", "--lang", "en", stdin="")
    assert after.exit_code == 0, after.output
    assert "empty" not in after.stderr
    assert "helpdesk directory sync" not in after.stderr
