"""Forgot and change password in chat: uniform answers, a queued link, limits, no secrets."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.engine import Engine
from bot.services import Services
from bot.types import DeleteUserMessage
from core.models import AuditEvent, OneTimeToken, OutboundMail
from tests.chat import Chat
from tests.factories import add_student

ID_NUMBER = "F131104093"


@pytest.fixture
async def student(services: Services) -> None:
    await add_student(
        services,
        id_number=ID_NUMBER,
        birthday=dt.date(1996, 1, 2),
        student_id="211300001",
        with_account=True,
    )


async def _forgot(chat: Chat, account: str, id_number: str) -> str:
    await chat.say("/start")
    await chat.press("I forgot my password")
    await chat.say(account)
    await chat.say(id_number)
    return chat.text()


async def _mail(services: Services) -> list[OutboundMail]:
    async with services.sessions() as session:
        return list((await session.scalars(select(OutboundMail))).all())


async def test_a_known_and_an_unknown_account_get_byte_identical_replies(
    engine: Engine, services: Services
) -> None:
    unknown = await _forgot(Chat(engine, user="u1"), "211300001", ID_NUMBER)
    await add_student(
        services,
        id_number=ID_NUMBER,
        birthday=dt.date(1996, 1, 2),
        student_id="211300001",
        with_account=True,
    )
    known = await _forgot(Chat(engine, user="u2"), "211300001", ID_NUMBER)
    wrong_id = await _forgot(Chat(engine, user="u3"), "211300001", "A123456789")
    assert known.encode() == unknown.encode() == wrong_id.encode()
    assert "a2******01@grad.demo.edu.tw" in known
    mails = await _mail(services)
    assert [m.to_address for m in mails] == ["a211300001@grad.demo.edu.tw"]
    assert "/password/" in mails[0].body


@pytest.mark.usefixtures("student")
async def test_the_link_token_is_stored_only_as_a_hash(services: Services, engine: Engine) -> None:
    await _forgot(Chat(engine, user="u1"), "211300001", ID_NUMBER)
    (mail,) = await _mail(services)
    token = mail.body.split("/password/")[1].split()[0]
    assert len(token) >= 43  # 256 bits, URL-safe base64
    async with services.sessions() as session:
        row = await session.scalar(select(OneTimeToken))
    assert row is not None and token not in repr(row.__dict__)
    expires = row.expires_at - row.created_at
    assert expires == dt.timedelta(minutes=15)


@pytest.mark.usefixtures("student")
async def test_the_forgot_flow_replies_in_chinese(engine: Engine) -> None:
    chat = Chat(engine, user="zh", locale="zh-TW")
    await chat.say("/start")
    await chat.press("忘記密碼")
    await chat.say("２１１３００００１")  # full-width digits
    await chat.say(ID_NUMBER)
    assert "a2******01@grad.demo.edu.tw" in chat.text()
    assert "若資料相符" in chat.text()


async def test_a_bad_id_number_is_explained_and_asked_again(chat: Chat) -> None:
    await chat.say("/start")
    await chat.press("I forgot my password")
    await chat.say("211300001")
    await chat.say("A123456788")
    assert "check digit does not match" in chat.text()


@pytest.mark.usefixtures("student")
async def test_requests_past_the_per_user_limit_are_refused_without_mail(
    chat: Chat, services: Services
) -> None:
    for _ in range(5):
        await _forgot(chat, "211300001", ID_NUMBER)
    assert len(await _mail(services)) == 5
    answer = await _forgot(chat, "211300001", ID_NUMBER)
    assert "Too many requests for a link" in answer
    assert len(await _mail(services)) == 5
    async with services.sessions() as session:
        outcomes = [e.outcome for e in (await session.scalars(select(AuditEvent))).all()]
    assert outcomes == ["sent"] * 5 + ["rate_limited"]


@pytest.mark.usefixtures("student")
async def test_change_password_sends_a_link_without_asking_the_id_number(
    chat: Chat, services: Services
) -> None:
    await chat.say("/start")
    await chat.press("Change my password")
    await chat.say("211300001")
    assert "If the details match, a link was sent to a2******01@grad.demo.edu.tw" in chat.text()
    (mail,) = await _mail(services)
    async with services.sessions() as session:
        row = await session.scalar(select(OneTimeToken))
    assert row is not None and row.purpose == "change"
    assert mail.to_address == "a211300001@grad.demo.edu.tw"


async def test_a_pasted_password_is_deleted_and_warned_about(chat: Chat) -> None:
    await chat.say("/start")
    await chat.press("I forgot my password")
    replies = await chat.send(chat.incoming(text="Tr0ub4dor&3x", message_id="m42"))
    assert DeleteUserMessage("m42") in replies
    assert "Never send a password in a chat" in chat.text()
    # It says how to get a link rather than promising one it does not send (issue 15.18).
    assert "I will send you a link" not in chat.text()
    assert '"Change my password"' in chat.text()
    assert "Which account?" in chat.text()  # the question again; nothing was taken


@pytest.mark.parametrize(
    "text",
    [
        "A123456789",
        "211300001",
        "b10901001",
        "1996-01-02",
        "a211300001@grad.demo.edu.tw",
        "Lin Ming-Zhi 1!",
    ],
)
async def test_ordinary_answers_are_not_taken_for_passwords(chat: Chat, text: str) -> None:
    await chat.say("/start")
    await chat.press("I forgot my password")
    await chat.say(text)
    assert "Never send a password" not in chat.text()
