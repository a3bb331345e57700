"""Mailbox status for a linked person (seeds 002, 004): conditions, age, resets, privacy."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from bot.engine import Engine
from bot.services import Services
from core.clock import FakeClock
from core.models import Mailbox, OneTimeToken, OutboundMail
from tests.bot.conversations.conftest import CHEN, LIN, NOTICE, last_code, link, require_change
from tests.chat import Chat


@pytest.mark.usefixtures("people")
async def test_asking_for_status_unlinked_offers_linking_and_then_shows_it(
    chat: Chat, services: Services
) -> None:
    await chat.say("/start")
    await chat.press("My mailbox status")
    assert "First, let us link this chat" in chat.text()
    await chat.say(LIN["student_id"])
    await chat.say(await last_code(services))
    text = chat.text()
    assert "this chat is now linked" in text
    assert "a211300001@grad.demo.edu.tw\nWorking normally." in text
    assert "Storage: 0 KB of 60 GB used (0%)." in text


@pytest.mark.usefixtures("people")
async def test_a_suspended_mailbox_shows_reason_date_and_notice_in_english(
    chat: Chat, services: Services
) -> None:
    await link(chat, services, CHEN["student_id"])
    await chat.say("/menu")
    await chat.press("My mailbox status")
    text = chat.text()
    assert "Suspended by the administrators on 2026-08-30 11:00." in text
    assert "Reason: Suspected abnormal login" in text
    assert "疑似異常登入" not in text  # the reason in the chat's language only
    assert "Storage: 57 GB of 60 GB used (95%)." in text and "nearly full" in text
    await chat.press("Read the notice for a211300002@grad.demo.edu.tw")
    assert "SMTPAUTH 疑似異常登入" in chat.text()


@pytest.mark.usefixtures("people")
async def test_each_condition_in_chinese(engine: Engine, services: Services) -> None:
    chat = Chat(engine, user="zh", locale="zh-TW")
    await chat.say("/start")
    await chat.press("我的信箱狀態")
    await chat.say(LIN["student_id"])
    await chat.say(await last_code(services))
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
    await link(chat, services, LIN["student_id"])
    await chat.say("/menu")
    await chat.press("My mailbox status")
    assert "Password last changed on 2025-09-06 (360 days ago)." in chat.text()
    assert "The password expires in 5 days" in chat.text()


@pytest.mark.usefixtures("people")
async def test_reset_from_status_sends_a_link_to_the_notification_address(
    chat: Chat, services: Services
) -> None:
    await link(chat, services, LIN["student_id"])
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
    await link(lin, services, LIN["student_id"])
    await link(chen, services, CHEN["student_id"])
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
    await chat.say(await last_code(services))
    assert expected in chat.text()
    assert ("Reset the password of a211300001@grad.demo.edu.tw" in chat.labels()) == (
        condition != "disabled"
    )


@pytest.mark.usefixtures("people")
async def test_mailbox_status_shows_a_required_password_change_with_its_reason(
    chat: Chat, services: Services
) -> None:
    await require_change(services, LIN["student_id"])
    await link(chat, services, LIN["student_id"])
    await chat.say("/menu")
    await chat.press("My mailbox status")
    assert "was set by the school and must be changed" in chat.text()
    assert f"Change the password of {LIN['student_id']} now" in chat.labels()


@pytest.mark.usefixtures("people")
async def test_a_password_changed_today_reads_today_not_zero_days_ago(
    engine: Engine, services: Services, clock: FakeClock
) -> None:
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(Mailbox)
            .where(Mailbox.address == "a211300001@grad.demo.edu.tw")
            .values(password_changed_at=services.clock.now())
        )
    for locale, today, zero in (("en", "today", "0 days ago"), ("zh-TW", "今天", "0 天前")):
        chat = Chat(engine, user=f"today-{locale}", locale=locale)
        clock.advance(minutes=1)  # one linking code a minute goes to an address
        await link(chat, services, LIN["student_id"])
        await chat.say("/menu")
        await chat.press("我的信箱狀態" if locale != "en" else "My mailbox status")
        assert today in chat.text() and zero not in chat.text(), chat.text()


@pytest.mark.usefixtures("people")
async def test_a_suspension_reason_and_notice_in_both_languages_show_only_the_chats(
    engine: Engine, services: Services, clock: FakeClock
) -> None:
    """Issue 15.15: staff write them once in both languages; each chat reads its own."""
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(Mailbox)
            .where(Mailbox.address == "a211300002@grad.demo.edu.tw")
            .values(suspension_notice=f"{NOTICE}\n\nWe found a suspicious login; suspended.")
        )
    for locale, own, other in (
        ("zh-TW", "疑似異常登入", "Suspected abnormal login"),
        ("en", "Suspected abnormal login", "疑似異常登入"),
    ):
        chat = Chat(engine, user=f"chen-{locale}", locale=locale)
        clock.advance(minutes=1)  # one linking code a minute goes to an address
        await link(chat, services, CHEN["student_id"])
        await chat.say("/menu")
        await chat.press("我的信箱狀態" if locale != "en" else "My mailbox status")
        assert own in chat.text() and other not in chat.text(), chat.text()
        await chat.say("1")  # the first button: read the notice
        notice = chat.text()
        if locale == "en":
            assert "We found a suspicious login" in notice and "SMTPAUTH" not in notice
        else:
            assert "SMTPAUTH" in notice and "We found" not in notice
