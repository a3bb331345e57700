"""A ``database_url`` fixture for the suite's long runs: SQLite on tmpfs when there is one.

The fuzzing, enumeration and brute-force tests make thousands of engine steps; every
step is a committed transaction, and SQLite on a disk waits for each commit to reach
it. The same migrated template copied to ``/dev/shm`` makes the runs several times
faster and less noisy, without changing what is tested. PostgreSQL
(``TEST_DATABASE_URL``) is used as the shared fixture uses it.

Use it by importing the fixture into a test module:
``from tests.reliability.fast_db import database_url  # noqa: F401``.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import create_engine
from core.models import Base

TMPFS = Path("/dev/shm")


async def _truncate(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            names = ", ".join(table.name for table in Base.metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for one test (as tests/conftest.py's), on tmpfs."""
    if migrated_template.startswith("postgresql"):
        asyncio.run(_truncate(migrated_template))
        yield migrated_template
        return
    if TMPFS.is_dir():
        folder = Path(tempfile.mkdtemp(prefix="helpdesk-test-", dir=TMPFS))
    else:
        folder = tmp_path
    path = folder / "helpdesk.db"
    shutil.copyfile(migrated_template, path)
    try:
        yield f"sqlite+aiosqlite:///{path}"
    finally:
        if folder != tmp_path:
            shutil.rmtree(folder, ignore_errors=True)
