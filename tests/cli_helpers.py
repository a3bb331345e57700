"""The ``helpdesk`` app in-process (Typer's runner) over the test database: the staff
shell's environment (``cli_env``), a command run (``helpdesk``) and a look at the database
in a loop of its own (``in_database``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.services import Services, build_services
from core.settings import Settings
from tests.conftest import TEST_SECRET

T = TypeVar("T")


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The environment a staff member's shell would have for this test's database."""
    monkeypatch.setenv("DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("HELPDESK_HOME", str(settings.home))
    monkeypatch.setenv("HELPDESK_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("HELPDESK_PROFILE", "demo")
    monkeypatch.setenv("HELPDESK_ARGON2_TIME_COST", "2")
    monkeypatch.setenv("HELPDESK_ARGON2_MEMORY_KIB", "19456")
    monkeypatch.setenv("HELPDESK_ARGON2_PARALLELISM", "1")
    monkeypatch.setenv("COLUMNS", "250")
    return settings


def helpdesk(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin)


def in_database(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """Run ``work`` on the test's database in an event loop of its own, as the CLI does."""

    async def main() -> T:
        services = build_services(settings)
        try:
            return await work(services)
        finally:
            await services.close()

    return asyncio.run(main())
