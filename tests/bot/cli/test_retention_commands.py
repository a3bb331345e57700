"""``helpdesk retention run``: what goes, and with --dry-run what would."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import func, select

from bot.services import Services, build_services
from core import audit
from core.models import AuditEvent
from core.settings import Settings
from tests.bot.cli.conftest import helpdesk

T = TypeVar("T")


def in_database(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """Run ``work`` on the test's database in an event loop of its own, as the CLI does."""

    async def main() -> T:
        services = build_services(settings)
        try:
            return await work(services)
        finally:
            await services.close()

    return asyncio.run(main())


async def _old_and_new_events(services: Services) -> None:
    now = dt.datetime.now(dt.UTC)
    async with services.sessions() as session, session.begin():
        for at in (now - dt.timedelta(days=500), now):
            audit.record(
                session,
                at=at,
                channel="cli",
                actor="cli:staff",
                flow="card",
                action="revoke",
                outcome="revoked",
            )


async def _events(services: Services) -> int:
    async with services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def test_a_dry_run_shows_what_would_go_and_the_run_deletes_it(cli_env: Settings) -> None:
    in_database(cli_env, _old_and_new_events)
    dry = helpdesk("retention", "run", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Would be deleted (dry run)" in dry.output
    assert "│ audit events" in dry.output and "│    1 │" in dry.output
    assert in_database(cli_env, _events) == 2
    real = helpdesk("retention", "run")
    assert real.exit_code == 0, real.output
    assert "Deleted" in real.output
    assert in_database(cli_env, _events) == 1
