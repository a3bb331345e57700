"""Applying for a new mailbox (seed 004): policy and terms, a generated name, pending."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from bot.engine import Engine
from bot.services import Services
from core.clock import FakeClock
from core.localized import LocalizedText
from core.models import (
    Mailbox,
    OneTimeToken,
    OutboundMail,
    Person,
    Role,
    StudentRecord,
)
from tests.bot.conversations.conftest import (
    LIN_MAILBOX_NAMES,
    assert_mailbox_in_place,
    read_to_the_end,
)
from tests.chat import Chat, link_directly
from tests.factories import add_lin, add_student
from tests.outbox import code_in, outbox

NOTIFY = "ming@example.org"


async def _person(services: Services, *, status: str = "enrolled", role: str = Role.STUDENT) -> int:
    person = await add_lin(services, campus_mail=False)
    async with services.sessions() as session, session.begin():
        await session.execute(update(StudentRecord).values(status=status))
        await session.execute(update(Person).values(role=role, notification_email=NOTIFY))
    return person.id


async def _linked(engine: Engine, services: Services, person_id: int, locale: str = "en") -> Chat:
    chat = Chat(engine, user=f"user-{locale}", locale=locale)
    await link_directly(services, chat, person_id)
    return chat


async def _mailboxes(services: Services) -> list[Mailbox]:
    async with services.sessions() as session:
        return list((await session.scalars(select(Mailbox))).all())


async def test_accepting_both_texts_and_choosing_a_name_creates_a_pending_mailbox(
    engine: Engine, services: Services
) -> None:
    chat = await _linked(engine, services, await _person(services))
    await chat.press("Apply for a new mailbox")
    assert "Demo University Network Usage Policy" in chat.text()
    await read_to_the_end(chat)
    assert "Terms of Use for Email Accounts" in chat.text()
    await read_to_the_end(chat)
    assert chat.labels()[:4] == LIN_MAILBOX_NAMES
    await chat.press("mzlin@demo.edu.tw")
    text = chat.text()
    assert "Created mzlin@demo.edu.tw." in text
    assert "Quota: 0 KB of 60 GB." in text
    assert "takes effect within 10 minutes" in text
    assert "A link to set its password was sent to m**g@example.org" in text
    (mailbox,) = await _mailboxes(services)
    assert (mailbox.address, mailbox.condition) == ("mzlin@demo.edu.tw", "pending")
    async with services.sessions() as session:
        token = await session.scalar(select(OneTimeToken))
        (mail,) = (await session.scalars(select(OutboundMail))).all()
    assert token is not None and token.subject == f"mailbox:{mailbox.id}"
    assert mail.to_address == NOTIFY and "/password/" in mail.body
    assert "mzlin@demo.edu.tw" in mail.subject


async def _to_the_names(chat: Chat) -> None:
    """Open the application and accept both texts: the names are offered next."""
    await chat.press("Apply for a new mailbox")
    await read_to_the_end(chat)
    await read_to_the_end(chat)


async def _apply(chat: Chat, name: str = "mzlin@demo.edu.tw") -> None:
    await _to_the_names(chat)
    await chat.press(name)


async def test_the_last_step_keeps_the_address_on_file_for_notifications(
    engine: Engine, services: Services
) -> None:
    chat = await _linked(engine, services, await _person(services))
    await _apply(chat)
    # Seed 004: "Designate email address for account notification".
    assert "the address for mzlin@demo.edu.tw's notifications" in chat.text()
    assert chat.labels() == ["Keep m**g@example.org", "Another address"]
    await chat.press("Keep m**g@example.org")
    assert "Notifications for mzlin@demo.edu.tw go to m**g@example.org." in chat.text()
    (mailbox,) = await _mailboxes(services)
    assert mailbox.notification_address == NOTIFY


async def test_another_address_is_designated_only_once_its_mailed_code_is_typed_back(
    engine: Engine, services: Services
) -> None:
    chat = await _linked(engine, services, await _person(services))
    await _apply(chat)
    await chat.press("Another address")
    await chat.say("not an address")
    assert "That is not an e-mail address." in chat.text()
    await chat.say("mzlin@demo.edu.tw")
    assert "cannot receive mail before it takes effect" in chat.text()
    await chat.say("Ming.Lin@Example.NET")
    assert "Please type the 6-digit code sent to Mi****in@example.net." in chat.text()
    (mailbox,) = await _mailboxes(services)
    assert mailbox.notification_address == NOTIFY  # nothing changes before the code
    (mail,) = await outbox(services, to="Ming.Lin@example.net")
    code = code_in(mail.body)
    wrong = "000000" if code != "000000" else "111111"
    await chat.say(wrong)
    assert "That code is not right." in chat.text()
    await chat.say(code)
    assert "Notifications for mzlin@demo.edu.tw go to Mi****in@example.net." in chat.text()
    (mailbox,) = await _mailboxes(services)
    assert mailbox.notification_address == "Ming.Lin@example.net"


async def test_a_designation_whose_code_ends_keeps_the_address_on_file(
    engine: Engine, services: Services
) -> None:
    chat = await _linked(engine, services, await _person(services))
    await _apply(chat)
    await chat.press("Another address")
    await chat.say("ming.lin@example.net")
    attempts = services.profile.lifetimes.link_code_attempts
    (mail,) = await outbox(services, to="ming.lin@example.net")
    code = code_in(mail.body)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(attempts):
        await chat.say(wrong)
    assert "That code no longer works, so nothing was changed." in chat.text()
    assert "go to m**g@example.org" in chat.text()
    (mailbox,) = await _mailboxes(services)
    assert mailbox.notification_address == NOTIFY


async def test_the_set_password_link_never_goes_into_a_chat_linked_today(
    engine: Engine, services: Services
) -> None:
    # A chat linked minutes ago (for instance to an account an application just
    # created) must not receive the link: it goes only to the address on file.
    chat = await _linked(engine, services, await _person(services))
    await _apply(chat)
    assert "/password/" not in chat.text() and "was sent to" in chat.text()
    (mail,) = await outbox(services)
    assert mail.to_address == NOTIFY


async def test_without_an_address_on_file_nothing_is_created_and_the_user_is_told(
    engine: Engine, services: Services
) -> None:
    person_id = await _person(services)
    async with services.sessions() as session, session.begin():
        await session.execute(update(Person).values(notification_email=None))
    chat = await _linked(engine, services, person_id)
    await chat.press("Apply for a new mailbox")
    assert "none is on file for you. Please contact the Computer Centre service desk" in chat.text()
    assert "Network Usage Policy" not in chat.text()
    assert await _mailboxes(services) == []


async def test_the_texts_are_shown_whole_in_parts(engine: Engine, services: Services) -> None:
    chat = await _linked(engine, services, await _person(services))
    await chat.press("Apply for a new mailbox")
    shown = []
    while True:
        shown.append(chat.text())
        if "I accept; continue" in chat.labels():
            break
        await chat.press("Continue reading")
    policy = services.profile.mail.usage_policy
    assert policy is not None
    for paragraph in policy.en.split("\n\n"):
        assert paragraph.strip() in "\n".join(shown)


async def test_a_text_in_several_parts_numbers_them_in_full_width_brackets_in_chinese(
    engine: Engine, services: Services
) -> None:
    mail = services.profile.mail
    long_policy = LocalizedText(zh_TW="\n\n".join(["第一條規範。" * 60] * 4), en="Policy.")
    services.profile = services.profile.model_copy(
        update={"mail": mail.model_copy(update={"usage_policy": long_policy})}
    )
    chat = await _linked(engine, services, await _person(services), locale="zh-TW")
    await chat.press("申請新信箱")
    assert "（第 1 部分，共 2 部分）" in chat.text()
    assert "(第" not in chat.text()


async def test_a_text_in_one_part_is_not_numbered(engine: Engine, services: Services) -> None:
    chat = await _linked(engine, services, await _person(services))
    await chat.press("Apply for a new mailbox")
    await read_to_the_end(chat)
    terms = chat.text()
    assert "Terms of Use for Email Accounts" in terms
    assert "Part 1 of 1" not in terms and "(Part" not in terms


@pytest.mark.parametrize("at", ["policy", "terms"])
async def test_declining_either_text_creates_nothing(
    engine: Engine, services: Services, at: str
) -> None:
    chat = await _linked(engine, services, await _person(services))
    await chat.press("Apply for a new mailbox")
    if at == "terms":
        await read_to_the_end(chat)
    await chat.press("I do not accept")
    assert "no mailbox was created" in chat.text()
    assert await _mailboxes(services) == []


async def test_a_taken_name_is_never_offered(engine: Engine, services: Services) -> None:
    person_id = await _person(services)
    other = await add_student(
        services,
        id_number="A800000014",
        birthday=dt.date(1990, 1, 1),
        student_id="211300002",
        campus_mail=False,
    )
    async with services.sessions() as session, session.begin():
        session.add(
            Mailbox(
                person_id=other.id,
                address="MZLin@demo.edu.tw",
                condition="normal",
                quota_used_kb=0,
                quota_limit_kb=1,
                created_at=services.clock.now(),
            )
        )
    chat = await _linked(engine, services, person_id)
    await _to_the_names(chat)
    assert "mzlin@demo.edu.tw" not in chat.labels()
    assert "mingzhi.lin@demo.edu.tw" in chat.labels()


async def test_a_name_taken_meanwhile_is_refused(engine: Engine, services: Services) -> None:
    person_id = await _person(services)
    chat = await _linked(engine, services, person_id)
    await _to_the_names(chat)
    async with services.sessions() as session, session.begin():
        session.add(
            Mailbox(
                person_id=person_id,
                address="mzlin@other.example",
                condition="normal",
                quota_used_kb=0,
                quota_limit_kb=1,
                created_at=services.clock.now(),
            )
        )
        other = Person(
            name_zh="某人",
            name_en="Some One",
            role="staff",
            id_number_hash="x" * 64,
            birthday_hash="y" * 64,
            id_number_masked="A1******89",
            notification_email=None,
            created_at=services.clock.now(),
        )
        session.add(other)
        await session.flush()
        session.add(
            Mailbox(
                person_id=other.id,
                address="mzlin@demo.edu.tw",
                condition="normal",
                quota_used_kb=0,
                quota_limit_kb=1,
                created_at=services.clock.now(),
            )
        )
    await chat.press("mzlin@demo.edu.tw")
    assert "Please choose one of the names listed." in chat.text()
    assert "mzlin@demo.edu.tw" not in chat.labels()


@pytest.mark.parametrize(
    ("status", "role", "allowed"),
    [
        ("enrolled", Role.STUDENT, True),
        ("returning", Role.STUDENT, True),
        ("suspended", Role.STUDENT, False),
        ("graduated", Role.ALUMNUS, False),
        ("graduated", Role.STAFF, True),
    ],
)
async def test_only_a_status_that_allows_it_may_apply(
    engine: Engine, services: Services, status: str, role: str, allowed: bool
) -> None:
    chat = await _linked(engine, services, await _person(services, status=status, role=role))
    await chat.press("Apply for a new mailbox")
    assert ("Network Usage Policy" in chat.text()) is allowed
    assert ("does not allow one" in chat.text()) is not allowed
    assert (
        "Please contact the Computer Centre service desk: phone 02-2345-6702" in chat.text()
    ) is (not allowed)


async def test_the_new_mailbox_is_pending_in_status_until_it_takes_effect(
    engine: Engine, services: Services, clock: FakeClock
) -> None:
    chat = await _linked(engine, services, await _person(services))
    await _apply(chat)
    await chat.press("Keep m**g@example.org")
    await chat.press("My mailbox status")
    assert "mzlin@demo.edu.tw\nBeing created" in chat.text()
    clock.advance(minutes=11)
    await assert_mailbox_in_place(chat, "mzlin@demo.edu.tw")


async def test_the_application_in_chinese(engine: Engine, services: Services) -> None:
    chat = await _linked(engine, services, await _person(services), locale="zh-TW")
    await chat.press("申請新信箱")
    assert "示範大學校園網路使用規範" in chat.text()
    await read_to_the_end(chat, accept="我接受，繼續")
    assert "電子郵件帳號使用條款" in chat.text()
    await read_to_the_end(chat, accept="我接受，繼續")
    await chat.press("linmz@demo.edu.tw")
    assert "已建立 linmz@demo.edu.tw。" in chat.text()
    assert "約在 10 分鐘內生效" in chat.text()
    assert "設定密碼的連結已寄到您登記的通知信箱 m**g@example.org" in chat.text()
    assert "最後一步：指定 linmz@demo.edu.tw 的通知信箱" in chat.text()
    await chat.press("沿用 m**g@example.org")
    assert "linmz@demo.edu.tw 的通知將寄到 m**g@example.org。" in chat.text()
