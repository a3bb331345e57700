"""People for the linking and mailbox tests: a student with a working mailbox, and one
whose mailbox is suspended with a notice; and how a test links a chat to one of them."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select, update

from bot.services import Services
from core.models import Account, ChatIdentity, Mailbox, OutboundMail, Person
from tests.chat import Chat
from tests.factories import add_student

LIN = {"id_number": "F131104093", "student_id": "211300001"}
NOTICE = "各位：最近發現您的信箱帳號有 SMTPAUTH 疑似異常登入，因此暫停您的帳號。"
CHEN = {"id_number": "A800000014", "student_id": "211300002"}
# The names offered to Lin Ming-Zhi (林明志) for a new mailbox, in order, none of them taken.
LIN_MAILBOX_NAMES = [
    "ming-zhi.lin@demo.edu.tw",
    "mingzhi.lin@demo.edu.tw",
    "mzlin@demo.edu.tw",
    "linmz@demo.edu.tw",
]


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


async def last_code(services: Services) -> str:
    async with services.sessions() as session:
        mail = await session.scalar(select(OutboundMail).order_by(OutboundMail.id.desc()))
    assert mail is not None
    match = re.search(r"\b(\d{6})\b", mail.body)
    assert match is not None
    return match.group(1)


async def link(chat: Chat, services: Services, account: str) -> None:
    await chat.say("/start")
    await chat.press(
        chat.labels()[4]
        if chat.locale and chat.locale.startswith("zh")
        else "Link this chat to my account"
    )
    await chat.say(account)
    await chat.say(await last_code(services))


async def read_to_the_end(chat: Chat, accept: str = "I accept; continue") -> None:
    """Page through a text the chat must accept (a policy, terms of use), then accept it."""
    more = "繼續閱讀" if accept == "我接受，繼續" else "Continue reading"
    while accept not in chat.labels():
        await chat.press(more)
    await chat.press(accept)


async def assert_mailbox_in_place(chat: Chat, address: str) -> None:
    """The chat's mailbox status shows ``address`` working, and a second application is
    refused."""
    await chat.say("/menu")
    await chat.press("My mailbox status")
    assert f"{address}\nWorking normally." in chat.text()
    await chat.say("/menu")
    await chat.press("Apply for a new mailbox")
    assert f"You already have the mailbox {address}." in chat.text()


async def person_of(services: Services, chat: Chat) -> int | None:
    async with services.sessions() as session:
        identity = await session.scalar(
            select(ChatIdentity).where(ChatIdentity.platform_user_id == chat.user)
        )
        return identity.person_id if identity else None


async def require_change(services: Services, username: str) -> None:
    """The school set this account's password: it must be changed before use."""
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(Account).where(Account.username == username).values(must_change=True)
        )
