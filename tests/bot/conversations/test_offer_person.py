"""Where a flow cannot help (a lookup with no match, a suspended mailbox), a person is offered."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.engine import Engine
from bot.services import Services
from core.models import Case
from tests.bot.conversations.conftest import CHEN, LIN, link
from tests.chat import Chat
from tests.factories import add_student

ID_NUMBER = "F131104093"


async def _cases(services: Services) -> list[Case]:
    async with services.sessions() as session:
        return list(await session.scalars(select(Case)))


async def test_a_lookup_with_no_match_offers_a_person_who_opens_a_case(
    chat: Chat, services: Services
) -> None:
    await add_student(
        services, id_number=ID_NUMBER, birthday=dt.date(1996, 1, 2), student_id="211300001"
    )
    await chat.say("/start")
    await chat.press("Look up my student ID")
    await chat.press("Master's programme")
    await chat.say(ID_NUMBER)
    await chat.say("1996-01-03")
    assert "Talk to a person" in chat.labels()
    assert "Try again (Master's programme)" in chat.labels()
    await chat.press("Talk to a person")
    assert "What do you need help with?" in chat.text()
    await chat.say("My student ID is not found")
    [case] = await _cases(services)
    assert f"Your case number is #{case.id}" in chat.text()


async def test_a_lookup_with_no_match_offers_a_person_in_chinese(engine: Engine) -> None:
    chat = Chat(engine, user="zh", locale="zh-TW")
    await chat.say("/start")
    await chat.press("查詢學號")
    await chat.press("碩士班")
    await chat.say(ID_NUMBER)
    await chat.say("1996-01-03")
    assert "找真人協助" in chat.labels()


@pytest.mark.usefixtures("people")
async def test_a_suspended_mailbox_offers_a_person(chat: Chat, services: Services) -> None:
    await link(chat, services, CHEN["student_id"])
    await chat.say("/menu")
    await chat.press("My mailbox status")
    assert "Read the notice for a211300002@grad.demo.edu.tw" in chat.labels()
    assert "Talk to a person" in chat.labels()
    await chat.press("Talk to a person")
    assert "What do you need help with?" in chat.text()


@pytest.mark.usefixtures("people")
async def test_a_mailbox_in_order_does_not_offer_a_person(chat: Chat, services: Services) -> None:
    await link(chat, services, LIN["student_id"])
    await chat.say("/menu")
    await chat.press("My mailbox status")
    assert "Done" in chat.labels()
    assert "Talk to a person" not in chat.labels()
