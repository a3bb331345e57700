"""Run the Alembic migrations from code (``helpdesk db upgrade``, tests)."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config

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
