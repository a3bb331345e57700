"""``helpdesk audit``: the audit trail for staff, in Taiwan time, filtered, escaped."""

from __future__ import annotations

import datetime as dt

from bot.services import Services
from core import audit
from core.settings import Settings
from tests.bot.cli.conftest import helpdesk, in_database


async def _events(services: Services) -> None:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    async with services.sessions() as session, session.begin():
        audit.record(
            session,
            at=now - dt.timedelta(days=30),
            channel="telegram",
            actor="old0pseudonym",
            flow="link",
            action="link",
            outcome="linked",
        )
        audit.record(
            session,
            at=now - dt.timedelta(hours=2),
            channel="telegram",
            actor="a1b2c3pseudonym",
            flow="student_id",
            action="lookup",
            outcome="no_match",
        )
        audit.record(
            session,
            at=now - dt.timedelta(hours=1),
            channel="cli",
            actor="cli:staff",
            flow="mailbox",
            action="suspend",
            outcome="suspended",
            reason="[bold red]spam[/]",
        )


def test_audit_lists_the_last_weeks_events_in_taiwan_time(cli_env: Settings) -> None:
    in_database(cli_env, _events)
    result = helpdesk("audit")
    assert result.exit_code == 0, result.output
    assert "time (Taiwan time)" in result.output
    assert "a1b2c3pseudonym" in result.output and "cli:staff" in result.output
    assert "old0pseudonym" not in result.output
    taiwan = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).astimezone(
        dt.timezone(dt.timedelta(hours=8))
    )
    assert taiwan.strftime("%Y-%m-%d %H:%M") in result.output
    # A field staff typed is shown as text, never as console markup.
    assert "[bold red]spam[/]" in result.output


def test_audit_filters_by_actor_action_and_since(cli_env: Settings) -> None:
    in_database(cli_env, _events)
    by_actor = helpdesk("audit", "--actor", "cli:staff")
    by_action = helpdesk("audit", "--action", "student_id.lookup")
    everything = helpdesk("audit", "--since", "60d")
    assert "cli:staff" in by_actor.output and "a1b2c3pseudonym" not in by_actor.output
    assert "a1b2c3pseudonym" in by_action.output and "cli:staff" not in by_action.output
    assert "old0pseudonym" in everything.output and "3 audit event(s)" in everything.output


def test_a_since_that_is_not_a_time_is_refused_with_the_forms_it_takes(
    cli_env: Settings,
) -> None:
    result = helpdesk("audit", "--since", "last tuesday")
    assert result.exit_code == 2
    assert "--since takes 7d, 12h, 30m or a date" in result.output
