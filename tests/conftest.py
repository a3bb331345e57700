"""Shared fixtures: a real, migrated database (SQLite or ``TEST_DATABASE_URL``)."""

from __future__ import annotations

import asyncio
import os

# python-telegram-bot warns (a deprecation) when it builds RetryAfter with an int; the
# suite turns warnings into errors, so opt in to its timedelta behaviour up front.
os.environ.setdefault("PTB_TIMEDELTA", "true")
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bot import conversations  # noqa: F401  (registers the flows)
from bot.engine import Engine
from bot.services import Services, build_services
from bot.web import create_app
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
TMPFS = Path("/dev/shm")

# Fixtures that give a test a database. A test using one (directly or through
# ``settings``, ``services``, ``chat``...) is marked ``db``; the PostgreSQL pass of CI
# runs only those (TEST_DATABASE_ONLY=1): the rest would run twice for nothing.
DATABASE_FIXTURES = frozenset({"database_url", "migrated_template"})


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


def _emptying_statement() -> str:
    """One round trip that empties every table and restarts every sequence.

    DELETE rather than TRUNCATE: a test leaves a few rows, and TRUNCATE gives each of the
    tables a new file on disk (a quarter to half a second per test, most of the
    PostgreSQL pass); ``setval`` restarts the ids as TRUNCATE's RESTART IDENTITY did.
    """
    deletes = "".join(
        f"DELETE FROM {table.name};" for table in reversed(Base.metadata.sorted_tables)
    )
    restart = (
        "PERFORM setval(c.oid, 1, false) FROM pg_class c"
        " WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace;"
    )
    # The job queue's own schema (migration 0014): a job a test left queued would
    # otherwise be run by the next test's worker, against a stand-in long gone.
    queue = (
        "IF to_regclass('procrastinate.procrastinate_jobs') IS NOT NULL THEN"
        # Its triggers name its tables unqualified.
        " PERFORM set_config('search_path', 'procrastinate, public', true);"
        " DELETE FROM procrastinate.procrastinate_events;"
        " DELETE FROM procrastinate.procrastinate_periodic_defers;"
        " DELETE FROM procrastinate.procrastinate_jobs;"
        " DELETE FROM procrastinate.procrastinate_workers;"
        " END IF;"
    )
    return f"DO $$ BEGIN {deletes} {restart} {queue} END $$"


async def truncate_all(url: str) -> None:
    """Empty every table of a PostgreSQL database (faster than migrating it again)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(_emptying_statement()))
    finally:
        await engine.dispose()


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for one test.

    SQLite files go to tmpfs where there is one: the fuzzing, enumeration and
    brute-force tests make thousands of committed steps, and a disk waits for each.
    """
    if migrated_template.startswith("postgresql"):
        asyncio.run(truncate_all(migrated_template))
        yield migrated_template
        return
    folder = (
        Path(tempfile.mkdtemp(prefix="helpdesk-test-", dir=TMPFS)) if TMPFS.is_dir() else tmp_path
    )
    path = folder / "helpdesk.db"
    shutil.copyfile(migrated_template, path)
    try:
        yield f"sqlite+aiosqlite:///{path}"
    finally:
        if folder != tmp_path:
            shutil.rmtree(folder, ignore_errors=True)


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


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of the web app (no chat adapters) over ``services``, in-process."""
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "db: touches a database (set on every test using the database fixtures)"
    )


def _touches_database(item: pytest.Item) -> bool:
    if item.get_closest_marker("db") is not None:
        return True
    if DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "postgresql" in callspec.params.values()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark database tests; with TEST_DATABASE_ONLY=1 keep only them.

    Tests marked ``runs_last`` (the leak scan over the suite's logs) run after the rest.
    """
    for item in items:
        if _touches_database(item):
            item.add_marker(pytest.mark.db)
    if os.environ.get("TEST_DATABASE_ONLY") == "1":
        kept = [item for item in items if item.get_closest_marker("db") is not None]
        dropped = [item for item in items if item.get_closest_marker("db") is None]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    last = [item for item in items if getattr(getattr(item, "function", None), "runs_last", False)]
    if last:
        items[:] = [item for item in items if item not in last] + last
