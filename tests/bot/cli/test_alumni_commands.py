"""``helpdesk alumni``: what staff see before deciding, shown as typed, never rendered."""

from __future__ import annotations

import asyncio
import datetime as dt

from bot.services import build_services
from core.settings import Settings
from tests.bot.cli.conftest import helpdesk
from tests.factories import add_application, add_student

MARKUP = "[link=https://evil.example]CS[/link][blink red] VERIFIED BY REGISTRAR[/]"


def _with(settings: Settings, **changes: object) -> None:
    async def main() -> None:
        services = build_services(settings)
        try:
            await add_application(services, **changes)
        finally:
            await services.close()

    asyncio.run(main())


def test_markup_typed_by_an_applicant_is_shown_as_typed(cli_env: Settings) -> None:
    _with(cli_env, department=MARKUP, name_en="[bold]Lin[/bold]")
    listed = helpdesk("alumni", "applications")
    assert listed.exit_code == 0, listed.output
    flat = "".join(listed.stdout.split())
    assert "".join(MARKUP.split()) in flat
    assert "[bold]Lin[/bold]" in flat


def test_an_application_matching_nobody_is_listed_as_a_new_person(cli_env: Settings) -> None:
    _with(cli_env)
    listed = helpdesk("alumni", "applications")
    assert "new person" in listed.stdout
    assert "CONFLICT" not in listed.stdout


def test_a_conflicting_application_is_flagged_and_refused_until_overridden(
    cli_env: Settings,
) -> None:
    async def add() -> None:
        services = build_services(cli_env)
        try:
            await add_student(
                services,
                id_number="F131104093",
                birthday=dt.date(1990, 1, 1),
                student_id="209203011",
            )
        finally:
            await services.close()

    asyncio.run(add())
    _with(cli_env)
    listed = helpdesk("alumni", "applications")
    assert "⚠ CONFLICT" in listed.stdout and "birthday differs" in listed.stdout
    refused = helpdesk("alumni", "approve", "1")
    assert refused.exit_code == 1 and "conflicts with the directory" in refused.stderr
    assert helpdesk("alumni", "approve", "1", "--override", " ").exit_code == 1
    approved = helpdesk("alumni", "approve", "1", "--override", "registrar checked the record")
    assert approved.exit_code == 0, approved.output
    assert "approved, account B20920301100" in approved.stdout
