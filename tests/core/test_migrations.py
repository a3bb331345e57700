"""Migrations go up and down cleanly and match the models."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from core import migrate
from core.db import create_engine
from core.models import Base
from core.settings import normalise_database_url


async def _tables_and_diff(url: str) -> tuple[set[str], list[object]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:

            def read(sync: object) -> tuple[set[str], list[object]]:
                tables = set(inspect(sync).get_table_names())  # type: ignore[union-attr]
                context = MigrationContext.configure(sync)  # type: ignore[arg-type]
                return tables, list(compare_metadata(context, Base.metadata))

            return await connection.run_sync(read)
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/migrations.db"
        return
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("TEST_DATABASE_URL is not set")
    url = make_url(normalise_database_url(base))
    name = f"helpdesk_migrations_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_upgrade_creates_every_table_and_matches_the_models(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    tables, diff = asyncio.run(_tables_and_diff(empty_database))
    assert {table.name for table in Base.metadata.sorted_tables} <= tables
    assert diff == []


def test_downgrade_removes_everything_and_upgrade_again_works(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    migrate.downgrade(empty_database, "base")
    tables, _ = asyncio.run(_tables_and_diff(empty_database))
    assert tables <= {"alembic_version"}
    migrate.upgrade(empty_database)
    tables, diff = asyncio.run(_tables_and_diff(empty_database))
    assert "conversation_states" in tables and diff == []
