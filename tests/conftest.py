"""Shared fixtures: a real, migrated database (SQLite or ``TEST_DATABASE_URL``)."""

from __future__ import annotations

import asyncio
import os

# python-telegram-bot warns (a deprecation) when it builds RetryAfter with an int; the
# suite turns warnings into errors, so opt in to its timedelta behaviour up front.
os.environ.setdefault("PTB_TIMEDELTA", "true")
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot import conversations  # noqa: F401  (registers the flows)
from bot.engine import Engine
from bot.services import Services, build_services
from core import migrate
from core.clock import FakeClock
from core.db import create_engine
from core.models import Base
from core.settings import Settings, normalise_database_url
from tests.chat import Chat

# Imported for its effect: the whole-suite leak scan's secret registry and log capture
# (tests/reliability/secret_log.py, scanned by tests/reliability/test_secrets_in_logs.py).
from tests.reliability import secret_log  # noqa: F401

TEST_SECRET = "test-secret-key-for-keyed-hashes-0123456789"


def _postgres_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    return normalise_database_url(url) if url else None


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per session: a SQLite file to copy, or the PostgreSQL database."""
    pg = _postgres_url()
    if pg is not None:
        migrate.downgrade(pg, "base")
        migrate.upgrade(pg)
        yield pg
        return
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    yield str(path)


async def _truncate(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            names = ", ".join(table.name for table in Base.metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path) -> str:
    """A migrated, empty database for one test."""
    if migrated_template.startswith("postgresql"):
        asyncio.run(_truncate(migrated_template))
        return migrated_template
    path = tmp_path / "helpdesk.db"
    shutil.copyfile(migrated_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "var",
        database_url=database_url,
        profile="demo",
        secret_key=TEST_SECRET,
        # The cheapest parameters the settings accept (OWASP's minimum): tests hash often.
        argon2_time_cost=2,
        argon2_memory_kib=19456,
        argon2_parallelism=1,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def services(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    built = build_services(settings, clock=clock)
    yield built
    await built.close()


@pytest.fixture
def engine(services: Services) -> Engine:
    return Engine(services)


@pytest.fixture
def chat(engine: Engine) -> Chat:
    return Chat(engine, user="alice", locale="en")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``runs_last`` (the leak scan over the suite's logs) run after the rest."""
    last = [item for item in items if getattr(getattr(item, "function", None), "runs_last", False)]
    if last:
        items[:] = [item for item in items if item not in last] + last
