"""``helpdesk cases list|show|close``: what staff see of a case, and closing it, audited."""

from __future__ import annotations

from sqlalchemy import select

from bot.engine import Engine
from bot.services import Services
from core.models import AuditEvent, Case, CaseStatus, ChatNotice
from core.settings import Settings
from tests.bot.cli.conftest import helpdesk, in_database
from tests.chat import Chat


def _open_case(settings: Settings, question: str) -> None:
    async def main(services: Services) -> None:
        chat = Chat(Engine(services), user="ming", locale="en")
        await chat.say("/menu")
        await chat.press("Talk to a person")
        await chat.say(question)
        await chat.say("it says error 809")

    in_database(settings, main)


def _read(settings: Settings) -> tuple[Case, list[str], list[str]]:
    async def main(services: Services) -> tuple[Case, list[str], list[str]]:
        async with services.sessions() as session:
            case = await session.scalar(select(Case))
            assert case is not None
            actions = list(await session.scalars(select(AuditEvent.action)))
            notices = list(await session.scalars(select(ChatNotice.text)))
            return case, actions, notices

    return in_database(settings, main)


def test_staff_list_show_and_close_a_case_and_the_user_is_asked_to_rate(
    cli_env: Settings,
) -> None:
    _open_case(cli_env, "VPN fails, my ID is A123456789")
    listed = helpdesk("cases", "list")
    assert listed.exit_code == 0, listed.output
    assert "#1" in listed.stdout and "VPN fails" in listed.stdout and "open" in listed.stdout
    assert "A123456789" not in listed.stdout

    shown = helpdesk("cases", "show", "1")
    assert shown.exit_code == 0, shown.output
    assert "chat user" in shown.stdout  # not linked: the pseudonym
    assert "user: it says error 809" in shown.stdout

    closed = helpdesk("cases", "close", "1")
    assert closed.exit_code == 0, closed.output
    case, actions, notices = _read(cli_env)
    assert case.status == CaseStatus.CLOSED and (case.closed_by or "").startswith("cli:")
    assert {"cases_listed", "case_shown", "case_closed"} <= set(actions)
    assert any("How helpful" in notice for notice in notices)

    again = helpdesk("cases", "close", "1")
    assert again.exit_code == 1 and "already closed" in again.output
    assert helpdesk("cases", "show", "99").exit_code == 1
    assert "No open cases." in helpdesk("cases", "list").stdout
