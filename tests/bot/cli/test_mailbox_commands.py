"""``helpdesk mailbox``: Taiwan time, a clear answer for a mailbox that is not suspended."""

from __future__ import annotations

import asyncio
import datetime as dt

from bot.services import build_services
from core.settings import Settings
from tests.bot.cli.conftest import helpdesk
from tests.factories import add_student

ADDRESS = "a211303001@grad.demo.edu.tw"


def _add_mailbox(settings: Settings) -> None:
    async def main() -> None:
        services = build_services(settings)
        try:
            await add_student(
                services,
                id_number="A128573490",
                birthday=dt.date(2001, 3, 14),
                student_id="211303001",
            )
        finally:
            await services.close()

    asyncio.run(main())


def _taipei(moment: dt.datetime) -> str:
    return (moment + dt.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")


def test_a_suspension_is_shown_in_taiwan_time_and_its_reason_as_typed(cli_env: Settings) -> None:
    _add_mailbox(cli_env)
    before = dt.datetime.now(dt.UTC)
    suspended = helpdesk("mailbox", "suspend", ADDRESS, "--reason", "[blink red]spam[/]")
    after = dt.datetime.now(dt.UTC)
    assert suspended.exit_code == 0, suspended.output
    assert "suspended at (Taiwan time)" in suspended.stdout
    assert _taipei(before) in suspended.stdout or _taipei(after) in suspended.stdout
    assert "[blink red]spam[/]" in suspended.stdout


def test_unsuspending_a_mailbox_that_is_not_suspended_says_so_and_exits_1(
    cli_env: Settings,
) -> None:
    _add_mailbox(cli_env)
    result = helpdesk("mailbox", "unsuspend", ADDRESS)
    assert result.exit_code == 1
    assert f"Mailbox {ADDRESS} is not suspended (normal); nothing was changed." in result.stderr
    assert helpdesk("mailbox", "suspend", ADDRESS, "--reason", "spam").exit_code == 0
    lifted = helpdesk("mailbox", "unsuspend", ADDRESS)
    assert lifted.exit_code == 0 and "normal" in lifted.stdout


def test_an_unknown_mailbox_is_named(cli_env: Settings) -> None:
    result = helpdesk("mailbox", "show", "nobody@grad.demo.edu.tw")
    assert result.exit_code == 1
    assert "No mailbox nobody@grad.demo.edu.tw." in result.stderr
