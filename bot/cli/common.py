"""What every ``helpdesk`` command shares: settings, consoles, logging, the staff actor."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from bot.web import install_log_redaction
from bot.web.security import configured_secrets
from core import logjson, migrate
from core.errors import ConfigurationError
from core.profiles import load_profile
from core.settings import Settings

T = TypeVar("T")

# Staff read times as the campus lives them; headers say "(Taiwan time)".
TAIWAN = ZoneInfo("Asia/Taipei")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


# Owner-only: the home folder 0700, files 0600 (the SQLite file and its WAL/SHM,
# mail in the outbox, the generated secret key) hold links, codes and key material.
PRIVATE_UMASK = 0o077


def private_files() -> None:
    """Make every folder and file this process creates readable by its owner only."""
    os.umask(PRIVATE_UMASK)


def load_settings() -> Settings:
    """The settings and a loadable profile, or exit 2 with the reason."""
    try:
        settings = Settings()
        load_profile(settings.profile)
    except (ConfigurationError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        err.print(f"[red]Configuration error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    return settings


def chat_log_level(settings: Settings) -> str:
    """A terminal chat logs warnings only, unless HELPDESK_LOG_LEVEL asks for more."""
    return settings.log_level if "log_level" in settings.model_fields_set else "WARNING"


def setup_logging(settings: Settings, level: str | None = None) -> None:
    """Log to stderr at ``level`` (default: the settings'), every record redacted.

    ``HELPDESK_LOG_FORMAT=json`` writes one JSON object a line, with the chat turn's id
    and actor (``core.logjson``).

    Redacted: the configured tokens and secrets, one-time links, codes and hashes,
    whichever library logs them.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logjson.formatter(settings.log_format))
    logging.basicConfig(level=level or settings.log_level, handlers=[handler])
    install_log_redaction(*configured_secrets(settings))


def actor() -> str:
    """The staff member's name as audit events record it."""
    return f"cli:{getpass.getuser()}"


def run(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion in a fresh event loop."""

    async def main() -> T:
        return await factory()

    return asyncio.run(main())


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` (plain text, never markup) in red and give the exit to raise."""
    err.print(escape(message), style="red")
    return typer.Exit(code)


def taiwan_time(moment: dt.datetime) -> str:
    """``2026-11-30 20:15`` in Taiwan time, for a column headed "(Taiwan time)"."""
    return moment.astimezone(TAIWAN).strftime("%Y-%m-%d %H:%M")


def taiwan_date(moment: dt.datetime) -> str:
    return moment.astimezone(TAIWAN).date().isoformat()


def counts(title: str, report: Any) -> Table:
    """A report dataclass of counts (``ImportReport``, ``SeedReport``) as a two-column table."""
    table = Table("", "count", title=title, title_justify="left")
    table.columns[1].justify = "right"
    for field in dataclasses.fields(report):
        table.add_row(field.name, str(getattr(report, field.name)))
    return table


def require_database(settings: Settings) -> None:
    """Exit 2 with what to do when the database is missing or not migrated to this code.

    Staff commands read what is there: they never create an empty database (a
    command run outside the project's folder would otherwise leave ``var/helpdesk.db``
    behind and fail with "no such table").
    """
    url = settings.sqlalchemy_url
    try:
        revisions = migrate.database_revisions(url)
    except (OSError, SQLAlchemyError) as exc:
        name = type(exc).__name__
        raise fail(f"Cannot open the database ({name}); check DATABASE_URL.", 2) from None
    if settings.database_url:
        where = "the database of DATABASE_URL"
    else:
        where = f"{(settings.home / 'helpdesk.db').resolve()} (HELPDESK_HOME={settings.home})"
    if revisions is None:
        raise fail(
            f"No helpdesk database at {where}. Run `helpdesk db upgrade` (or "
            "`helpdesk db seed-demo` for the demo) first, or set HELPDESK_HOME or "
            "DATABASE_URL to the one in use.",
            2,
        )
    if revisions != migrate.heads(url):
        raise fail(
            f"The database at {where} is not at this version's schema: run `helpdesk db upgrade`.",
            2,
        )
