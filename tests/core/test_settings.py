"""Settings: database URLs, OWASP floors, the embedded default's secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_url_picks_the_async_driver(
    given: str, used: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert Settings().sqlalchemy_url == used


def test_the_embedded_default_is_a_sqlite_file_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("HELPDESK_HOME", str(tmp_path))
    assert Settings().sqlalchemy_url == f"sqlite+aiosqlite:///{tmp_path}/helpdesk.db"


def test_argon2_below_owasp_minimum_is_refused() -> None:
    with pytest.raises(ValidationError, match="OWASP"):
        Settings(argon2_memory_kib=4096)
    with pytest.raises(ValidationError, match="OWASP"):
        Settings(argon2_time_cost=1)


def test_the_generated_secret_is_kept_across_runs_and_private(tmp_path: Path) -> None:
    first = Settings(home=tmp_path).pii_key
    second = Settings(home=tmp_path).pii_key
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0


def test_links_in_mail_follow_the_web_port_when_no_public_url_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HELPDESK_PUBLIC_URL", raising=False)
    monkeypatch.setenv("HELPDESK_WEB_PORT", "9000")
    settings = Settings()
    assert settings.public_url == "http://127.0.0.1:9000"
    # helpdesk run/serve --port: the port actually served.
    assert settings.serving_on(port=9001).public_url == "http://127.0.0.1:9001"
    assert settings.serving_on(host="0.0.0.0", port=9002).public_url == "http://127.0.0.1:9002"


def test_an_explicit_public_url_is_kept_whatever_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPDESK_PUBLIC_URL", "https://helpdesk.example.edu.tw")
    monkeypatch.setenv("HELPDESK_WEB_PORT", "9000")
    settings = Settings().serving_on(port=9001)
    assert (settings.public_url, settings.web_port) == ("https://helpdesk.example.edu.tw", 9001)
