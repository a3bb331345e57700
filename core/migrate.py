"""Run the Alembic migrations from code (``helpdesk db upgrade``, tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from core.db import create_engine
from core.resources import data_dir


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(data_dir("migrations")))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """Upgrade from inside a running event loop (env.py starts its own loop)."""
    await asyncio.to_thread(upgrade, url, revision)


def heads(url: str) -> set[str]:
    """The revisions the code's migrations end at."""
    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def database_revisions(url: str) -> set[str] | None:
    """The revisions a database is at; ``None`` when it has no helpdesk tables at all.

    On the embedded default a missing SQLite file counts as no database, and is not
    created by asking.
    """
    if url.startswith("sqlite") and "///" in url:
        path = Path(url.split("///", 1)[1])
        if not path.exists():
            return None
    return asyncio.run(_read_revisions(url))


async def _read_revisions(url: str) -> set[str] | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:

            def read(sync: Connection) -> set[str] | None:
                if not inspect(sync).has_table("alembic_version"):
                    return None
                return set(MigrationContext.configure(sync).get_current_heads())

            return await connection.run_sync(read)
    finally:
        await engine.dispose()
