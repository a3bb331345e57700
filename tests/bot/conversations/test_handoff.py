"""Talk to a person: opening a case, relaying while it is open, closing and rating."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot.services import Services
from core import cases
from core.clock import FakeClock
from core.models import Case, CaseMessage, CaseStatus, ChatNotice, OutboundMail
from tests.chat import Chat


async def _cases(services: Services) -> list[Case]:
    async with services.sessions() as session:
        return list(await session.scalars(select(Case).order_by(Case.id)))


async def _open_case(
    chat: Chat, question: str = "My VPN says error 809", talk: str = "Talk to a person"
) -> None:
    await chat.say("/menu")
    await chat.press(talk)
    await chat.say(question)


async def test_talk_to_a_person_opens_a_case_and_tells_the_user_its_number(
    chat: Chat, services: Services
) -> None:
    await chat.say("/menu")
    assert "Talk to a person" in chat.labels()
    await chat.press("Talk to a person")
    assert "What do you need help with?" in chat.text()
    await chat.say("My VPN says error 809")
    [case] = await _cases(services)
    assert f"Your case number is #{case.id}" in chat.text()
    assert "closed now" not in chat.text()  # 11:00 on a Tuesday: the desk is open
    assert case.question == "My VPN says error 809"
    assert case.status == CaseStatus.OPEN
    assert case.locale == "en" and case.channel == "test"
    assert case.account is None  # an unlinked chat: staff see its pseudonym only


async def test_the_case_never_holds_an_id_number_birthday_code_or_link(
    chat: Chat, services: Services
) -> None:
    await _open_case(
        chat,
        "I am A123456789 born 1996/01/02, code 493021 from https://x.example/reset?t=abc",
    )
    [case] = await _cases(services)
    for secret in ("A123456789", "1996/01/02", "493021", "https://", "t=abc"):
        assert secret not in case.question
    async with services.sessions() as session:
        mail = await session.scalar(select(OutboundMail))
    assert mail is not None and mail.to_address == "servicedesk@demo.edu.tw"
    assert "A123456789" not in mail.body and f"Case #{case.id}" in mail.body


async def test_outside_office_hours_the_user_is_told_when_someone_will_answer(
    chat: Chat, clock: FakeClock
) -> None:
    clock.advance(days=3, hours=11)  # Friday 22:00 in Taipei
    await _open_case(chat)
    assert "The help desk is closed now; someone will answer from 2026-09-07 09:00" in chat.text()


async def test_the_case_carries_the_flows_last_steps(chat: Chat, services: Services) -> None:
    await chat.say("qwzx vbnm")
    await _open_case(chat)
    [case] = await _cases(services)
    assert any("not_understood" in step for step in case.context["steps"])


async def test_two_misunderstandings_in_a_row_offer_a_person(chat: Chat) -> None:
    await chat.say("qwzx vbnm")
    assert "Talk to a person" in chat.labels()  # in the menu, as always
    assert "A person at the help desk" not in chat.text()
    await chat.say("plokij uhygt")
    assert "A person at the help desk can help you" in chat.text()
    await chat.press("Talk to a person")
    assert "What do you need help with?" in chat.text()


async def test_help_tells_how_to_reach_a_person(chat: Chat) -> None:
    await chat.say("/help")
    assert 'choose "Talk to a person"' in chat.text()


async def test_what_the_user_types_while_a_case_is_open_goes_to_the_help_desk(
    chat: Chat, services: Services
) -> None:
    await _open_case(chat)
    await chat.say("it started yesterday")
    assert "Passed on to the help desk" in chat.text()
    await chat.say("Tr0ub4dor&3x")  # a pasted password: warned, never relayed
    assert "looks like a password" in chat.text()
    async with services.sessions() as session:
        texts = list(await session.scalars(select(CaseMessage.text)))
    assert texts == ["it started yesterday"]


async def test_a_chat_has_one_open_case_at_a_time(chat: Chat, services: Services) -> None:
    await _open_case(chat)
    await chat.say("/menu")
    await chat.press("Talk to a person")
    assert "is open" in chat.text()
    assert len(await _cases(services)) == 1


async def test_a_flood_of_messages_is_held_back(chat: Chat, services: Services) -> None:
    await _open_case(chat)
    for n in range(services.profile.handoff.messages_per_minute):
        await chat.say(f"message {n}")
    await chat.say("one too many")
    assert "faster than the help desk can read" in chat.text()


async def test_cases_per_day_are_limited(chat: Chat, services: Services) -> None:
    for _ in range(services.profile.handoff.cases_per_chat_per_day):
        await _open_case(chat)
        await chat.press("Talk to a person")
        await chat.press("End the conversation with the help desk")
        await chat.press("Skip")
    await chat.say("/menu")
    await chat.press("Talk to a person")
    assert "most help desk cases a day" in chat.text()


async def test_the_user_ends_the_case_and_rates_it(chat: Chat, services: Services) -> None:
    await _open_case(chat)
    await chat.say("anything new?")
    await chat.press("End the conversation with the help desk")
    assert "is closed" in chat.text() and "How helpful" in chat.text()
    await chat.press("4")
    assert "Thank you for your rating" in chat.text()
    [case] = await _cases(services)
    assert case.status == CaseStatus.CLOSED and case.rating == 4 and case.closed_by == "user"


async def test_a_staff_answer_and_close_reach_the_chat_and_the_user_rates_by_typing(
    services: Services, engine: object, clock: FakeClock
) -> None:
    from bot.engine import Engine

    assert isinstance(engine, Engine)
    chat = Chat(engine, user="mei", locale="zh-TW")
    await _open_case(chat, "信箱不能寄信", talk="找真人協助")
    now = clock.now()
    async with services.sessions() as session, session.begin():
        case = await session.scalar(select(Case))
        assert case is not None
        await cases.add_staff_message(
            session, case, source="slack", author="slack:U0STAFF", text="請重新登入試試", now=now
        )
        assert case.status == CaseStatus.CLAIMED and case.first_answer_at == now
        await cases.close(session, case, by="slack:U0STAFF", channel="slack", now=now)
    async with services.sessions() as session:
        notices = list(await session.scalars(select(ChatNotice.text).order_by(ChatNotice.id)))
    assert "請重新登入試試" in notices[0] and "服務台" in notices[0]
    assert "1" in notices[-1] and "5" in notices[-1]
    await chat.say("5")
    [case] = await _cases(services)
    assert case.rating == 5


async def test_a_case_idle_past_the_profiles_time_closes(
    chat: Chat, services: Services, clock: FakeClock
) -> None:
    await _open_case(chat)
    clock.advance(minutes=services.profile.handoff.idle_close_minutes - 1)
    assert (
        await cases.close_idle(services.sessions, profile=services.profile, now=clock.now()) == []
    )
    clock.advance(minutes=2)
    closed = await cases.close_idle(services.sessions, profile=services.profile, now=clock.now())
    [case] = await _cases(services)
    assert closed == [case.id] and case.status == CaseStatus.CLOSED and case.closed_by == "idle"


def test_next_opening_skips_the_weekend(services: Services) -> None:
    handoff, zone = services.profile.handoff, services.profile.zone
    saturday = dt.datetime(2026, 9, 5, 10, 0, tzinfo=zone)
    assert cases.next_opening(handoff, zone, saturday) == dt.datetime(2026, 9, 7, 9, 0, tzinfo=zone)
    assert cases.next_opening(handoff, zone, dt.datetime(2026, 9, 7, 10, 0, tzinfo=zone)) is None
