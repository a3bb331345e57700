"""Linking a chat by a mailed code, and mailbox status (seeds 002, 004)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select, update

from bot.engine import Engine
from bot.services import Services
from core.clock import FakeClock
from core.models import AuditEvent, ChatIdentity, Mailbox, OneTimeToken, OutboundMail, Person
from tests.chat import Chat
from tests.factories import add_student

LIN = {"id_number": "F131104093", "student_id": "211300001"}
NOTICE = "各位：最近發現您的信箱帳號有 SMTPAUTH 疑似異常登入，因此暫停您的帳號。"
CHEN = {"id_number": "A800000014", "student_id": "211300002"}


@pytest.fixture
async def people(services: Services) -> None:
    await add_student(
        services,
        id_number=LIN["id_number"],
        birthday=dt.date(1996, 1, 2),
        student_id=LIN["student_id"],
        with_account=True,
    )
    await add_student(
        services,
        id_number=CHEN["id_number"],
        birthday=dt.date(2004, 7, 22),
        student_id=CHEN["student_id"],
        with_account=True,
        name_zh="陳怡君",
        name_en="Chen Yi-Jun",
    )
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(Mailbox)
            .where(Mailbox.address == "a211300001@grad.demo.edu.tw")
            .values(
                notification_address="lin@example.org",
                password_changed_at=services.clock.now() - dt.timedelta(days=360),
            )
        )
        await session.execute(
            update(Mailbox)
            .where(Mailbox.address == "a211300002@grad.demo.edu.tw")
            .values(
                condition="suspended",
                suspended_reason="疑似異常登入 / Suspected abnormal login",
                suspended_at=services.clock.now() - dt.timedelta(days=2),
                suspension_notice=NOTICE,
                notification_address="chen@example.net",
                quota_used_kb=62914560 * 95 // 100,
            )
        )
        # Her campus mailbox cannot receive mail while suspended: codes go here instead.
        await session.execute(
            update(Person)
            .where(Person.name_en == "Chen Yi-Jun")
            .values(notification_email="chen@example.net")
        )
        await session.execute(
            update(Person)
            .where(Person.name_en == "Lin Ming-Zhi")
            .values(notification_email="lin@example.org")
        )


async def _last_code(services: Services) -> str:
    async with services.sessions() as session:
        mail = await session.scalar(select(OutboundMail).order_by(OutboundMail.id.desc()))
    assert mail is not None
    match = re.search(r"\b(\d{6})\b", mail.body)
    assert match is not None
    return match.group(1)


async def _link(chat: Chat, services: Services, account: str) -> None:
    await chat.say("/start")
    await chat.press(
        chat.labels()[4]
        if chat.locale and chat.locale.startswith("zh")
        else "Link this chat to my account"
    )
    await chat.say(account)
    await chat.say(await _last_code(services))


async def _person_of(services: Services, chat: Chat) -> int | None:
    async with services.sessions() as session:
        identity = await session.scalar(
            select(ChatIdentity).where(ChatIdentity.platform_user_id == chat.user)
        )
        return identity.person_id if identity else None


@pytest.mark.usefixtures("people")
async def test_the_mailed_code_links_the_chat(chat: Chat, services: Services) -> None:
    await _link(chat, services, LIN["student_id"])
    assert "this chat is now linked" in chat.text()
    assert await _person_of(services, chat) is not None


@pytest.mark.usefixtures("people")
async def test_five_wrong_codes_end_the_code(chat: Chat, services: Services) -> None:
    await chat.say("/start")
    await chat.press("Link this chat to my account")
    await chat.say(LIN["student_id"])
    code = await _last_code(services)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(4):
        await chat.say(wrong)
        assert "That code is not right." in chat.text()
    await chat.say(wrong)
    assert "no longer works" in chat.text()
    # Even the right code is refused now: the code has ended.
    await chat.say("/start")
    await chat.press("Link this chat to my account")
    await chat.say(LIN["student_id"])
    await chat.say(code)
    assert await _person_of(services, chat) is None


@pytest.mark.usefixtures("people")
async def test_a_code_expires_after_ten_minutes(
    chat: Chat, services: Services, clock: FakeClock
) -> None:
    await chat.say("/start")
    await chat.press("Link this chat to my account")
    await chat.say(LIN["student_id"])
    code = await _last_code(services)
    clock.advance(minutes=9, seconds=59)
    await chat.say("123")  # a wrong-length answer keeps the conversation alive
    clock.advance(seconds=2)
    await chat.say(code)
    assert "no longer works" in chat.text()
    assert await _person_of(services, chat) is None


@pytest.mark.usefixtures("people")
async def test_an_unknown_account_reads_and_counts_down_the_same(
    engine: Engine, services: Services
) -> None:
    known, unknown = Chat(engine, user="k"), Chat(engine, user="u")
    transcripts = []
    for chat, account in ((known, "211300001"), (unknown, "211399999")):
        await chat.say("/start")
        await chat.press("Link this chat to my account")
        lines = [(await chat.say(account)) and chat.text().replace(account, "X")]
        for _ in range(5):
            await chat.say("000000" if account == "211399999" else "999999")
            lines.append(chat.text())
        transcripts.append(lines)
    known_text, unknown_text = transcripts
    assert known_text[0].replace("01@", "@") == unknown_text[0].replace("99@", "@")
    assert known_text[1:] == unknown_text[1:]


@pytest.mark.usefixtures("people")
async def test_linking_again_replaces_the_link_and_unlink_removes_it(
    chat: Chat, services: Services
) -> None:
    await _link(chat, services, LIN["student_id"])
    first = await _person_of(services, chat)
    await _link(chat, services, CHEN["student_id"])
    second = await _person_of(services, chat)
    assert first is not None and second is not None and first != second
    await chat.say("/unlink")
    assert "no longer linked" in chat.text()
    assert await _person_of(services, chat) is None
    async with services.sessions() as session:
        actions = [(e.action, e.outcome) for e in (await session.scalars(select(AuditEvent))).all()]
    assert actions.count(("link", "linked")) == 2 and ("unlink", "unlinked") in actions


@pytest.mark.usefixtures("people")
async def test_asking_for_status_unlinked_offers_linking_and_then_shows_it(
    chat: Chat, services: Services
) -> None:
    await chat.say("/start")
    await chat.press("My mailbox status")
    assert "First, let us link this chat" in chat.text()
    await chat.say(LIN["student_id"])
    await chat.say(await _last_code(services))
    text = chat.text()
    assert "this chat is now linked" in text
    assert "a211300001@grad.demo.edu.tw\nWorking normally." in text
    assert "Storage: 0 KB of 60 GB used (0%)." in text


@pytest.mark.usefixtures("people")
async def test_a_suspended_mailbox_shows_reason_date_and_notice_in_english(
    chat: Chat, services: Services
) -> None:
    await _link(chat, services, CHEN["student_id"])
    await chat.say("/menu")
    await chat.press("My mailbox status")
    text = chat.text()
    assert "Suspended by the administrators on 2026-08-30 11:00." in text
    assert "Suspected abnormal login" in text
    assert "Storage: 57 GB of 60 GB used (95%)." in text and "nearly full" in text
    await chat.press("Read the notice for a211300002@grad.demo.edu.tw")
    assert "SMTPAUTH 疑似異常登入" in chat.text()


@pytest.mark.usefixtures("people")
async def test_each_condition_in_chinese(engine: Engine, services: Services) -> None:
    chat = Chat(engine, user="zh", locale="zh-TW")
    await chat.say("/start")
    await chat.press("我的信箱狀態")
    await chat.say(LIN["student_id"])
    await chat.say(await _last_code(services))
    assert "正常使用中。" in chat.text()
    assert "容量：已使用 0 KB，上限 60 GB（0%）。" in chat.text()
    assert "密碼將在 5 天後到期" in chat.text()
    for condition, expected in (
        ("pending", "建立中（申請時間 2026-09-01 11:00），約在 10 分鐘內生效。"),
        ("disabled", "已停用。"),
        ("suspended", "已於 - 被管理者暫停。原因：-"),
    ):
        async with services.sessions() as session, session.begin():
            await session.execute(
                update(Mailbox)
                .where(Mailbox.address == "a211300001@grad.demo.edu.tw")
                .values(condition=condition, created_at=services.clock.now())
            )
        await chat.say("/menu")
        await chat.press("我的信箱狀態")
        assert expected in chat.text(), condition


@pytest.mark.usefixtures("people")
async def test_password_age_warns_before_expiry_in_english(chat: Chat, services: Services) -> None:
    await _link(chat, services, LIN["student_id"])
    await chat.say("/menu")
    await chat.press("My mailbox status")
    assert "Password last changed on 2025-09-06 (360 days ago)." in chat.text()
    assert "The password expires in 5 days" in chat.text()


@pytest.mark.usefixtures("people")
async def test_reset_from_status_sends_a_link_to_the_notification_address(
    chat: Chat, services: Services
) -> None:
    await _link(chat, services, LIN["student_id"])
    await chat.say("/menu")
    await chat.press("My mailbox status")
    await chat.press("Reset the password of a211300001@grad.demo.edu.tw")
    assert "was sent to l*n@example.org" in chat.text()
    async with services.sessions() as session:
        mail = await session.scalar(select(OutboundMail).order_by(OutboundMail.id.desc()))
        token = await session.scalar(select(OneTimeToken).order_by(OneTimeToken.id.desc()))
    assert mail is not None and mail.to_address == "lin@example.org"
    assert token is not None and token.subject.startswith("mailbox:")


@pytest.mark.usefixtures("people")
async def test_no_input_of_one_linked_user_shows_another_persons_mailbox(
    engine: Engine, services: Services
) -> None:
    lin, chen = Chat(engine, user="lin"), Chat(engine, user="chen")
    await _link(lin, services, LIN["student_id"])
    await _link(chen, services, CHEN["student_id"])
    await chen.say("/menu")
    await chen.press("My mailbox status")
    chen_nonce = chen.action_for("Done").split(":")[0]
    async with services.sessions() as session:
        chen_box = await session.scalar(
            select(Mailbox).where(Mailbox.address == "a211300002@grad.demo.edu.tw")
        )
    assert chen_box is not None
    await lin.say("/menu")
    await lin.press("My mailbox status")
    lin_nonce = lin.action_for("Done").split(":")[0]
    attempts = [
        f"{lin_nonce}:notice:{chen_box.id}",
        f"{lin_nonce}:reset:{chen_box.id}",
        f"{chen_nonce}:notice:{chen_box.id}",
        "notice:" + str(chen_box.id),
    ]
    seen = []
    for action in attempts:
        seen.append("\n".join(map(str, await lin.send(lin.incoming(action=action)))))
    for text in ("a211300002", "SMTPAUTH", "Chen", "chen@example.net"):
        assert text not in "\n".join(seen) + lin.text()
    for typed in (
        "2",
        "3",
        "a211300002@grad.demo.edu.tw",
        "Read the notice for a211300002@grad.demo.edu.tw",
    ):
        await lin.say(typed)
        assert "a211300002" not in lin.text() and "SMTPAUTH" not in lin.text()


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("normal", "a211300001@grad.demo.edu.tw\nWorking normally."),
        (
            "pending",
            "Being created (requested 2026-09-01 11:00); it takes effect within 10 minutes.",
        ),
        ("disabled", "a211300001@grad.demo.edu.tw\nDisabled."),
        ("suspended", "Suspended by the administrators on -. Reason: -"),
    ],
)
async def test_each_condition_in_english(
    chat: Chat, services: Services, condition: str, expected: str
) -> None:
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(Mailbox)
            .where(Mailbox.address == "a211300001@grad.demo.edu.tw")
            .values(condition=condition, created_at=services.clock.now())
        )
    await chat.say("/start")
    await chat.press("My mailbox status")
    await chat.say(LIN["student_id"])
    await chat.say(await _last_code(services))
    assert expected in chat.text()
    assert ("Reset the password of a211300001@grad.demo.edu.tw" in chat.labels()) == (
        condition != "disabled"
    )
