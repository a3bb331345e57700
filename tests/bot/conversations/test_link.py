"""Linking a chat to an account by a mailed code, unlinking, linking again."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select, update

from bot.card_images import cipher_of
from bot.engine import Engine
from bot.services import Services
from core.accounts import issue_enrolment_code
from core.cards import issue_card
from core.clock import FakeClock
from core.models import (
    Account,
    AuditEvent,
    CardView,
    ChatIdentity,
    OutboundMail,
    Person,
    Role,
)
from tests.bot.conversations.conftest import (
    CHEN,
    LIN,
    last_code,
    link,
    person_of,
    require_change,
)
from tests.chat import Chat
from tests.directory_backends import Backend, backend, slapd_server
from tests.factories import add_student

__all__ = ["backend", "slapd_server"]


@pytest.mark.usefixtures("people")
async def test_the_mailed_code_links_the_chat(chat: Chat, services: Services) -> None:
    await link(chat, services, LIN["student_id"])
    assert "this chat is now linked" in chat.text()
    assert await person_of(services, chat) is not None


@pytest.mark.usefixtures("people")
async def test_five_wrong_codes_end_the_code(chat: Chat, services: Services) -> None:
    await chat.say("/start")
    await chat.press("Link this chat to my account")
    await chat.say(LIN["student_id"])
    code = await last_code(services)
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
    assert await person_of(services, chat) is None


@pytest.mark.usefixtures("people")
async def test_a_code_expires_after_ten_minutes(
    chat: Chat, services: Services, clock: FakeClock
) -> None:
    await chat.say("/start")
    await chat.press("Link this chat to my account")
    await chat.say(LIN["student_id"])
    code = await last_code(services)
    clock.advance(minutes=9, seconds=59)
    await chat.say("123")  # a wrong-length answer keeps the conversation alive
    clock.advance(seconds=2)
    await chat.say(code)
    assert "no longer works" in chat.text()
    assert await person_of(services, chat) is None


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
    await link(chat, services, LIN["student_id"])
    first = await person_of(services, chat)
    await link(chat, services, CHEN["student_id"])
    second = await person_of(services, chat)
    assert first is not None and second is not None and first != second
    await chat.say("/unlink")
    assert "no longer linked" in chat.text()
    assert await person_of(services, chat) is None
    async with services.sessions() as session:
        actions = [(e.action, e.outcome) for e in (await session.scalars(select(AuditEvent))).all()]
    assert actions.count(("link", "linked")) == 2 and ("unlink", "unlinked") in actions


async def _require_change(backend: Backend) -> None:
    """The school set the account's password: SQL's must_change, or pwdReset in slapd."""
    if backend.server is None:
        await require_change(backend.services, backend.account)
        return
    dn = backend.server.account(backend.account).dn
    backend.server.as_root(dn, {"pwdReset": [("MODIFY_REPLACE", ["TRUE"])]})


async def test_right_after_linking_a_required_change_is_shown_with_a_button_that_mails_a_link(
    backend: Backend,
) -> None:
    """On the bot's tables and on LDAP alike: the chat links to the account's owner, and
    the directory's must-change flag shows at once, and again in the mailbox status."""
    services = backend.services
    chat = Chat(Engine(services), user="alice")
    await _require_change(backend)
    await link(chat, services, backend.account)
    assert "this chat is now linked" in chat.text()
    assert (
        f"The password of {backend.account} was set by the school and must be changed"
        in chat.text()
    )
    await chat.press(f"Change the password of {backend.account} now")
    assert f"A link to set the password of {backend.account} was sent to" in chat.text()
    async with services.sessions() as session:
        mail = await session.scalar(select(OutboundMail).order_by(OutboundMail.id.desc()))
    assert mail is not None and "/password/" in mail.body
    # The chat stays linked: a flow that needs a linked chat starts at once and says it too.
    await chat.say("/menu")
    await chat.press("My mailbox status")
    assert "First, let us link this chat" not in chat.text()
    assert "was set by the school and must be changed" in chat.text()
    assert f"Change the password of {backend.account} now" in chat.labels()


@pytest.mark.usefixtures("people")
async def test_linking_without_a_required_change_just_says_linked(
    chat: Chat, services: Services
) -> None:
    await link(chat, services, LIN["student_id"])
    assert "must be changed" not in chat.text()
    assert "What can I help you with?" in chat.text()


@pytest.mark.usefixtures("people")
async def test_asking_again_within_a_minute_keeps_the_mailed_code_working(
    chat: Chat, services: Services
) -> None:
    await chat.say("/start")
    await chat.press("Link this chat to my account")
    await chat.say(LIN["student_id"])
    code = await last_code(services)
    await chat.say("/start")
    await chat.press("Link this chat to my account")
    await chat.say(LIN["student_id"])
    assert "a 6-digit code was sent" in chat.text()
    async with services.sessions() as session:
        mails = list(await session.scalars(select(OutboundMail)))
    assert len(mails) == 1  # one code a minute to an address
    await chat.say(code)
    assert "this chat is now linked" in chat.text()


async def _open_card(services: Services, chat: Chat) -> None:
    """Link ``chat`` to an alumnus with a card, and open the card in it."""
    person = await add_student(
        services,
        id_number="F107493269",
        birthday=dt.date(1985, 11, 5),
        student_id="109205003",
        name_zh="王大同",
        name_en="Wang Da-Tong",
    )
    await chat.say("/start")
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(ChatIdentity)
            .where(ChatIdentity.platform_user_id == chat.user)
            .values(person_id=person.id, linked_at=services.clock.now())
        )
        await issue_card(
            session,
            cipher_of(services),
            person_id=person.id,
            card_type="electronic",
            valid_until=dt.date(2030, 6, 30),
            now=services.clock.now(),
        )
    await chat.press("My alumni card")
    assert await _open_views(services) == 1


async def _open_views(services: Services) -> int:
    async with services.sessions() as session:
        query = select(func.count()).select_from(CardView).where(CardView.closed_at.is_(None))
        return await session.scalar(query) or 0


async def test_unlinking_closes_the_alumni_card_open_in_the_chat(
    chat: Chat, services: Services
) -> None:
    await _open_card(services, chat)
    await chat.say("/unlink")
    assert "The alumni card open in this chat is closed." in chat.text()
    assert await _open_views(services) == 0


@pytest.mark.usefixtures("people")
async def test_linking_to_another_account_closes_the_alumni_card_open_in_the_chat(
    chat: Chat, services: Services
) -> None:
    await _open_card(services, chat)
    await link(chat, services, LIN["student_id"])
    assert "this chat is now linked" in chat.text()
    assert "The alumni card open in this chat is closed." in chat.text()
    assert await _open_views(services) == 0


async def _new_hire(services: Services, email: str | None) -> int:
    """Seed 004's applicant: a member of staff with an account and no mailbox yet."""
    async with services.sessions() as session, session.begin():
        person = Person(
            name_zh="蔡佩珊",
            name_en="Cai Pei-Shan",
            role=Role.STAFF,
            id_number_hash=services.pii.id_number("G225136840"),
            birthday_hash=services.pii.birthday(dt.date(1996, 4, 12)),
            id_number_masked="G2******40",
            notification_email=email,
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


async def _mails(services: Services) -> list[OutboundMail]:
    async with services.sessions() as session:
        return list(await session.scalars(select(OutboundMail)))


async def test_a_new_hire_links_with_the_code_mailed_to_the_address_hr_gave(
    chat: Chat, services: Services
) -> None:
    person_id = await _new_hire(services, "peishan.cai@example.org")
    await link(chat, services, "pei-shan.cai")
    assert [m.to_address for m in await _mails(services)] == ["peishan.cai@example.org"]
    assert await person_of(services, chat) == person_id


async def test_a_new_hire_with_no_address_links_with_an_enrolment_code_from_staff(
    chat: Chat, services: Services, engine: Engine
) -> None:
    """Seed 004, issue 15.3: nothing can be mailed, and the reply does not claim it was."""
    person_id = await _new_hire(services, None)
    await chat.say("/start")
    await chat.press("Link this chat to my account")
    await chat.say("pei-shan.cai")
    assert await _mails(services) == []
    assert "If the account exists and has an address on file" in chat.text()
    assert "enrolment code" in chat.text()
    async with services.sessions() as session, session.begin():
        code = await issue_enrolment_code(
            session,
            services.settings.pii_key,
            account="pei-shan.cai",
            lifetime=dt.timedelta(days=14),
            now=services.clock.now(),
        )
    assert code is not None and re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}", code)
    await chat.say(code.lower().replace("-", " "))
    assert "this chat is now linked" in chat.text()
    assert await person_of(services, chat) == person_id

    # Used once: another chat cannot take the same person with it.
    other = Chat(engine, user="someone-else", locale="en")
    await other.say("/start")
    await other.press("Link this chat to my account")
    await other.say("pei-shan.cai")
    await other.say(code)
    assert "That enrolment code does not work" in other.text()
    assert await person_of(services, other) is None


async def test_guessing_enrolment_codes_locks_the_chat_user_after_five(
    chat: Chat, services: Services
) -> None:
    await _new_hire(services, None)
    await chat.say("/start")
    await chat.press("Link this chat to my account")
    await chat.say("pei-shan.cai")
    for n in range(5):
        await chat.say(f"ABCD-EFGH-{n}{n}")
    assert "Too many wrong enrolment codes" in chat.text()
    assert await person_of(services, chat) is None


async def test_an_enrolment_code_with_six_digits_is_not_taken_for_a_mailed_code(
    chat: Chat, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """About one code in twenty has exactly six digits among its ten characters."""
    person_id = await _new_hire(services, None)
    await chat.say("/start")
    await chat.press("Link this chat to my account")
    await chat.say("pei-shan.cai")
    characters = iter("K7Q29X4D31")
    with monkeypatch.context() as patched:
        patched.setattr("core.accounts.secrets.choice", lambda _alphabet: next(characters))
        async with services.sessions() as session, session.begin():
            code = await issue_enrolment_code(
                session,
                services.settings.pii_key,
                account="pei-shan.cai",
                lifetime=dt.timedelta(days=14),
                now=services.clock.now(),
            )
    assert code == "K7Q2-9X4D-31"
    await chat.say("k7q2 9x4d 31")
    assert "this chat is now linked" in chat.text()
    assert await person_of(services, chat) == person_id
