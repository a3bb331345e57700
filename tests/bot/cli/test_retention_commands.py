"""``helpdesk retention run``: what goes, and with --dry-run what would."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from bot.services import Services
from core import audit
from core.models import AuditEvent
from core.settings import Settings
from tests.bot.cli.conftest import helpdesk, in_database


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
