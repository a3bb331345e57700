"""``helpdesk account enrolment-code``: the code staff hand over links the new hire's chat."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

from sqlalchemy import select

from bot.services import Services
from core.models import Account, AuditEvent, ChatIdentity, Person, Role
from core.settings import Settings
from tests.bot.cli.conftest import helpdesk
from tests.chat import Chat

CODE = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}\b")


async def _new_hire(services: Services) -> int:
    """Seed 004's applicant: staff, an account, no mailbox and no address on file."""
    async with services.sessions() as session, session.begin():
        person = Person(
            name_zh="蔡佩珊",
            name_en="Cai Pei-Shan",
            role=Role.STAFF,
            id_number_hash=services.pii.id_number("G225136840"),
            birthday_hash=services.pii.birthday(dt.date(1996, 4, 12)),
            id_number_masked="G2******40",
            created_at=services.clock.now(),
        )
        session.add(person)
        await session.flush()
        session.add(
            Account(
                person_id=person.id,
                username="pei-shan.cai",
                kind="staff",
                password_hash="-",
                password_changed_at=services.clock.now(),
            )
        )
        return person.id


async def _linked_person(services: Services, chat: Chat) -> int | None:
    async with services.sessions() as session:
        return await session.scalar(
            select(ChatIdentity.person_id).where(ChatIdentity.platform_user_id == chat.user)
        )


async def test_the_printed_code_typed_into_the_link_flow_links_the_new_hires_chat(
    cli_env: Settings, services: Services, chat: Chat
) -> None:
    person_id = await _new_hire(services)
    # The CLI runs its own event loop, as in a staff member's shell.
    result = await asyncio.to_thread(
        helpdesk, "account", "enrolment-code", "Pei-Shan.Cai", "--days", "3"
    )
    assert result.exit_code == 0, result.output
    found = CODE.search(result.stdout)
    assert found is not None, result.stdout
    assert "(Taiwan time)" in result.stdout

    await chat.say("/start")
    await chat.press("Link this chat to my account")
    await chat.say("pei-shan.cai")
    await chat.say(found.group())
    assert "this chat is now linked" in chat.text()
    assert await _linked_person(services, chat) == person_id

    async with services.sessions() as session:
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "enrolment_code")
        )
    assert event is not None and event.outcome == "issued" and event.actor.startswith("cli:")
    assert found.group() not in str(event.detail)
    assert found.group().replace("-", "") not in str(event.detail)


async def test_a_newer_code_ends_the_one_handed_out_before(
    cli_env: Settings, services: Services, chat: Chat
) -> None:
    await _new_hire(services)
    first = await asyncio.to_thread(helpdesk, "account", "enrolment-code", "pei-shan.cai")
    second = await asyncio.to_thread(helpdesk, "account", "enrolment-code", "pei-shan.cai")
    old = CODE.search(first.stdout)
    assert old is not None and CODE.search(second.stdout) is not None
    await chat.say("/start")
    await chat.press("Link this chat to my account")
    await chat.say("pei-shan.cai")
    await chat.say(old.group())
    assert "That enrolment code does not work" in chat.text()
    assert await _linked_person(services, chat) is None


def test_an_unknown_account_gets_no_code_and_exits_1(cli_env: Settings) -> None:
    result = helpdesk("account", "enrolment-code", "nobody.here")
    assert result.exit_code == 1
    assert "No such account: nobody.here." in result.stderr
    assert CODE.search(result.output) is None
