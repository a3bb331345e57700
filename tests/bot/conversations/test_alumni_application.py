"""Applying for an alumni account (seed 003): the form, its checks, review, and staff review."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import event, select, update
from typer.testing import CliRunner

from bot.cli import app as helpdesk_app
from bot.conversations.alumni_application import State
from bot.engine import Engine
from bot.flow import CHOICES_KEY, menu_flows
from bot.services import Services
from core.directory_import import AccountKind
from core.models import (
    Account,
    AlumniApplication,
    AuditEvent,
    ChatIdentity,
    ChatNotice,
    ConversationState,
    OutboundMail,
    Person,
    StudentRecord,
)
from core.passwords import PasswordHasher
from core.settings import Settings
from tests.chat import Chat
from tests.cli_helpers import cli_env, in_database
from tests.factories import add_student

ID_NUMBER = "F131104093"
BIRTHDAY = dt.date(1985, 11, 5)
# Every way the clear ID number or birthday could appear in stored data.
SECRETS = (ID_NUMBER, ID_NUMBER.lower(), "1985-11-05", "19851105", "74/11/05", "741105")
TITLE = "Apply for an alumni account"

# (state, how, answer) in the form's order: "say" types text, "press" a button.
ANSWERS: list[tuple[State, str, str]] = [
    (State.NAME_ZH, "say", "王大同"),
    (State.NAME_EN, "say", "Wang Da-Tong"),
    (State.SEX, "press", "Male"),
    (State.ID_NUMBER, "say", ID_NUMBER.lower()),
    (State.BIRTHDAY, "say", "74/11/05"),
    (State.DEGREE_LEVEL, "press", "Master's programme"),
    (State.DEPARTMENT, "say", "資訊工程學系"),
    (State.STUDENT_ID, "say", "109205003"),
    (State.ENTRY_YEAR, "say", "2009"),
    (State.GRADUATION_YEAR, "say", "102"),
    (State.MOBILE, "say", "+886 912-345-678"),
    (State.EMAIL, "say", "Wang@Example.COM"),
    (State.ADDRESS, "say", "臺北市大安區羅斯福路四段1號"),
]

# What each state asks, to check that a refused answer is followed by the same question.
QUESTIONS: dict[State, str] = {
    State.NAME_ZH: "What is your name in Chinese",
    State.NAME_EN: "What is your name in English",
    State.SEX: "What is your sex",
    State.ID_NUMBER: "Please type your national ID number",
    State.BIRTHDAY: "Please type your birthday",
    State.DEGREE_LEVEL: "Which degree programme did you graduate from?",
    State.DEPARTMENT: "Which department or graduate institute",
    State.STUDENT_ID: "What was your student ID",
    State.ENTRY_YEAR: "In which year did you enter",
    State.GRADUATION_YEAR: "In which year did you graduate?",
    State.MOBILE: "What is your mobile phone number?",
    State.EMAIL: "What is your e-mail address?",
    State.ADDRESS: "What is your postal address?",
    State.CONSENT: "Do you agree to the personal data notice?",
    State.REVIEW: "Submit the application, or correct a field first?",
    State.CORRECT: "Which field do you want to correct?",
}


async def _begin(chat: Chat) -> None:
    await chat.say("/start")
    await chat.press(TITLE)


async def _answer(chat: Chat, state: State, how: str, value: str) -> None:
    if how == "press":
        await chat.press(value)
    else:
        await chat.say(value)


async def _fill(chat: Chat, until: State | None = None, /, **changes: str) -> None:
    """Start and answer every question before ``until`` (all of them when None)."""
    await _begin(chat)
    for state, how, value in ANSWERS:
        if state is until:
            return
        await _answer(chat, state, how, changes.get(state.value, value))


async def _to_review(chat: Chat, **changes: str) -> None:
    await _fill(chat, **changes)
    await chat.press("I agree")


async def _snapshot(services: Services, chat: Chat) -> tuple[str | None, dict[str, Any]]:
    """Where the chat's conversation stands, without the per-step buttons."""
    async with services.sessions() as session:
        row = await session.get(ConversationState, (chat.channel, chat.user))
        assert row is not None
        data = {key: value for key, value in row.data.items() if key != CHOICES_KEY}
        return row.state, data


async def _applications(services: Services) -> list[AlumniApplication]:
    async with services.sessions() as session:
        return list((await session.scalars(select(AlumniApplication))).all())


def _assert_no_secrets(stored: str) -> None:
    for secret in SECRETS:
        assert secret not in stored


# -- the whole form ----------------------------------------------------------------------


async def test_the_whole_application_in_english(chat: Chat, services: Services) -> None:
    await _begin(chat)
    assert "Nothing is stored until you submit" in chat.text()
    states_data: list[str] = []
    for state, how, value in ANSWERS:
        assert QUESTIONS[state] in chat.text()
        await _answer(chat, state, how, value)
        states_data.append(json.dumps((await _snapshot(services, chat))[1], ensure_ascii=False))
    assert "Personal data notice. Demo University collects" in chat.text()
    assert chat.labels() == ["I agree", "I do not agree"]
    await chat.press("I agree")
    summary = chat.text()
    for line in (
        "Chinese name: 王大同",
        "English name: Wang Da-Tong",
        "Sex: Male",
        "ID number: F1******93",
        "Birthday: 1985-**-**",
        "Degree programme: Master's programme",
        "Department: 資訊工程學系",
        "Student ID: 109205003",
        "Year of entry: 2009 (ROC 98)",
        "Year of graduation: 2013 (ROC 102)",
        "Mobile: 0912-345-678",
        "E-mail: Wang@example.com",
        "Address: 臺北市大安區羅斯福路四段1號",
    ):
        assert line in summary
    _assert_no_secrets(summary)
    assert chat.labels() == ["Submit", "Correct a field"]
    states_data.append(json.dumps((await _snapshot(services, chat))[1], ensure_ascii=False))
    for stored in states_data:
        _assert_no_secrets(stored)

    await chat.press("Submit")
    answer = chat.text()
    assert "Your application for an alumni account was received (number 1)." in answer
    assert "about 7 working days" in answer
    assert "by mail to Wang@example.com" in answer
    assert "your account will be B10920500300" in answer

    (application,) = await _applications(services)
    assert application.status == "pending"
    assert (application.channel, application.chat_id, application.locale) == ("test", "alice", "en")
    assert (application.name_zh, application.name_en, application.sex) == (
        "王大同",
        "Wang Da-Tong",
        "male",
    )
    assert application.id_number_hash == services.pii.id_number(ID_NUMBER)
    assert application.id_number_masked == "F1******93"
    assert application.birthday_hash == services.pii.birthday(BIRTHDAY)
    assert (application.degree_level, application.student_id) == ("master", "109205003")
    assert (application.entry_year, application.graduation_year) == (2009, 2013)
    assert (application.mobile, application.email) == ("0912345678", "Wang@example.com")
    assert application.consent_at == services.clock.now()
    row = {c.name: getattr(application, c.name) for c in AlumniApplication.__table__.columns}
    _assert_no_secrets(json.dumps(row, default=str, ensure_ascii=False))
    # Seed 003: the first-login password is the ID number with its letter in upper case.
    hasher = services.passwords
    assert await hasher.verify(application.default_password_hash, ID_NUMBER)
    assert not await hasher.verify(application.default_password_hash, ID_NUMBER.lower())

    async with services.sessions() as session:
        (mail,) = (await session.scalars(select(OutboundMail))).all()
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.flow == "alumni_account"))
        ).all()
    assert mail.to_address == "Wang@example.com"
    assert mail.subject == "Demo University: your application for an alumni account"
    assert "Dear Wang Da-Tong" in mail.body and "(number 1)" in mail.body
    _assert_no_secrets(mail.body)
    assert [(e.action, e.outcome, e.detail) for e in events] == [
        ("apply", "pending", {"application": 1})
    ]
    ended, data = await _snapshot(services, chat)
    assert ended is None and data == {}


async def test_the_whole_application_in_chinese(engine: Engine, services: Services) -> None:
    chat = Chat(engine, user="zh", locale="zh-TW")
    await chat.say("/start")
    flows = [flow.name for flow in menu_flows()]
    await chat.say(str(flows.index("alumni_account") + 1))
    for state, how, value in ANSWERS:
        # Buttons by number, whatever their labels: 男 is the first, 碩士班 the second.
        if how == "press":
            value = "2" if state is State.DEGREE_LEVEL else "1"
        await chat.say(value)
    assert "個人資料" in chat.text()
    await chat.say("1")  # 我同意
    summary = chat.text()
    assert "F1******93" in summary and "1985-**-**" in summary
    assert "王大同" in summary and "碩士班" in summary
    await chat.say("1")  # 送出
    answer = chat.text()
    assert "B10920500300" in answer
    assert "工作日" in answer  # seed 003: 需要7個工作日審查
    (application,) = await _applications(services)
    assert application.locale == "zh_TW" and application.degree_level == "master"
    async with services.sessions() as session:
        (mail,) = (await session.scalars(select(OutboundMail))).all()
    assert "王大同" in mail.body and "工作日" in mail.body


# -- every field checked ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "typed", "explanation"),
    [
        (State.NAME_ZH, "Wang Da-Tong", "Please type your name in Chinese characters"),
        (State.NAME_ZH, "王大同2", "Please type your name in Chinese characters"),
        (State.NAME_ZH, "王" * 31, "That is too long: at most 30 characters."),
        (State.NAME_EN, "王大同", "An English name has Latin letters"),
        (State.NAME_EN, "Wang 2", "An English name has Latin letters"),
        (State.SEX, "maybe", "Please choose one of the options."),
        (State.ID_NUMBER, "F131104094", "The check digit does not match"),
        (State.ID_NUMBER, "F13110409", "An ID number has 10 characters"),
        (State.ID_NUMBER, "F331104093", "The second character must be 1 or 2"),
        (State.BIRTHDAY, "1985-02-30", "That date does not exist."),
        (State.BIRTHDAY, "2030-01-01", "That date is in the future."),
        (State.BIRTHDAY, "5 Nov 1985", "I could not read that as a date."),
        (State.DEGREE_LEVEL, "kindergarten", "Please choose one of the options."),
        (State.DEPARTMENT, "12345", "Please type the name of the department"),
        (State.DEPARTMENT, "🎓 CSIE", "Please do not use emoji or symbols."),
        (State.DEPARTMENT, "系" * 101, "That is too long: at most 100 characters."),
        (State.STUDENT_ID, "B1234", "That does not look like a student ID of Demo University."),
        (State.ENTRY_YEAR, "twenty", "Please type a year, for example 2015"),
        (State.ENTRY_YEAR, "1930", "That year is before 1945."),
        (State.ENTRY_YEAR, "2030", "That year is in the future."),
        (State.ENTRY_YEAR, "民國2009", "Please type a year, for example 2015"),
        (State.GRADUATION_YEAR, "2008", "cannot be before the year of entry (2009)."),
        (State.GRADUATION_YEAR, "116", "That year is in the future."),
        (State.MOBILE, "02-2736-1234", "Please type a mobile number: in Taiwan"),
        (State.MOBILE, "+1 555", "abroad with + and the country code"),
        (State.MOBILE, "+44 20 7946 0018", "abroad with + and the country code"),
        (State.MOBILE, "0912-345-67", "Please type a mobile number: in Taiwan"),
        (State.EMAIL, "wang@", "That is not an e-mail address."),
        (State.EMAIL, "wang@example", "That is not an e-mail address."),
        (State.EMAIL, "wang @example.com", "That is not an e-mail address."),
        (State.ADDRESS, "台北", "That does not look like a full address."),
        (State.ADDRESS, "臺北市 🏠 1號", "Please do not use emoji or symbols."),
    ],
)
async def test_a_bad_answer_is_explained_the_question_asked_again_and_nothing_changes(
    chat: Chat, services: Services, state: State, typed: str, explanation: str
) -> None:
    await _fill(chat, state)
    before = await _snapshot(services, chat)
    assert before[0] == state.value
    await chat.say(typed)
    assert explanation in chat.text()
    assert QUESTIONS[state] in chat.text()
    assert await _snapshot(services, chat) == before


JUNK = {
    "huge": "A" * 5000,
    "binary": "\x00\x01\x02\ufffd\ufffe",
    "control only": "\x00\x01\x02\x7f",
    "emoji": "😀🎓",
    "zero-width": "\u200b\u200c\u2060\ufeff",
    "full-width": "？？？",
    "full-width space": "\u3000\u3000",
}


@pytest.mark.parametrize("junk", JUNK.values(), ids=JUNK.keys())
async def test_junk_at_every_question_gets_an_answer_and_changes_nothing(
    chat: Chat, services: Services, junk: str
) -> None:
    await _begin(chat)
    for state, how, value in [*ANSWERS, (State.CONSENT, "press", "I agree")]:
        before = await _snapshot(services, chat)
        assert before[0] == state.value
        replies = await chat.say(junk)
        assert replies, state
        assert QUESTIONS[state] in chat.text(), state
        assert await _snapshot(services, chat) == before, state
        await _answer(chat, state, how, value)
    before = await _snapshot(services, chat)
    await chat.say(junk)
    assert QUESTIONS[State.REVIEW] in chat.text()
    assert await _snapshot(services, chat) == before
    await chat.press("Submit")
    assert "was received" in chat.text()


@pytest.mark.parametrize(
    ("state", "typed", "stored"),
    [
        (State.NAME_ZH, " 王\u200b大同 ", "王大同"),
        (State.NAME_ZH, "谷辣斯・尤達卡", "谷辣斯·尤達卡"),
        (State.NAME_EN, "  Wang   Da-Tong ", "Wang Da-Tong"),
        (State.NAME_EN, "Ｗａｎｇ Ｄａ－Ｔｏｎｇ", "Wang Da-Tong"),
        (State.STUDENT_ID, "１０９２０５００３", "109205003"),
        (State.STUDENT_ID, "109-205-003", "109205003"),
        (State.MOBILE, "0912 345 678", "0912345678"),
        (State.MOBILE, "+886-(0)912-345-678", "0912345678"),
        (State.MOBILE, "８８６９１２３４５６７８", "0912345678"),
        # Seed 003's form takes numbers abroad (海外) too: kept in E.164.
        (State.MOBILE, "+81 90-1234-5678", "+819012345678"),
        (State.MOBILE, "+1 (415) 555-2671", "+14155552671"),
        (State.MOBILE, "002 1 415 555 2671", "+14155552671"),
        (State.MOBILE, "+44 7911 123456", "+447911123456"),
        (State.EMAIL, "ｗａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", "wang@example.com"),
    ],
)
async def test_answers_are_normalised(
    chat: Chat, services: Services, state: State, typed: str, stored: str
) -> None:
    await _fill(chat, state)
    await chat.say(typed)
    _state, data = await _snapshot(services, chat)
    assert _state != state.value
    assert data[state.value] == stored


@pytest.mark.parametrize(
    ("typed", "year"), [("2009", 2009), ("98", 2009), ("民國98年", 2009), ("０９８", 2009)]
)
async def test_years_are_gregorian_or_roc(
    chat: Chat, services: Services, typed: str, year: int
) -> None:
    await _fill(chat, State.ENTRY_YEAR)
    await chat.say(typed)
    assert (await _snapshot(services, chat))[1]["entry_year"] == year


# -- review and corrections ------------------------------------------------------------------


async def test_a_graduate_of_this_year_is_told_not_to_apply_but_to_log_in_after_the_diploma(
    chat: Chat, services: Services
) -> None:
    await _begin(chat)
    assert "Graduates of this year must not apply" in chat.text()
    await chat.say("/cancel")
    await _fill(chat, State.GRADUATION_YEAR)
    this_year = services.clock.now().astimezone(services.profile.zone).year
    before = await _snapshot(services, chat)
    await chat.say(str(this_year - 1911))  # ROC, as most people in Taiwan write it
    answer = chat.text()
    assert "Graduates of this year must not apply" in answer
    assert "your alumni account B10920500300 is made when you receive your diploma" in answer
    assert "Two days after that, log in directly" in answer
    assert QUESTIONS[State.GRADUATION_YEAR] in answer
    assert await _snapshot(services, chat) == before
    await chat.say(str(this_year - 1))
    assert QUESTIONS[State.MOBILE] in chat.text()


async def test_an_alumnus_abroad_applies_with_an_overseas_mobile_number(
    chat: Chat, services: Services
) -> None:
    await _to_review(chat, mobile="+81 90-1234-5678")
    assert "Mobile: +81 90-1234-5678" in chat.text()
    await chat.press("Submit")
    (application,) = await _applications(services)
    assert application.mobile == "+819012345678"


async def test_a_field_corrected_from_the_review_is_asked_again_then_the_review_returns(
    chat: Chat, services: Services
) -> None:
    await _to_review(chat)
    await chat.press("Correct a field")
    assert chat.labels()[:3] == ["Chinese name", "English name", "Sex"]
    assert chat.labels()[-1] == "Back to the summary"
    await chat.press("Mobile")
    assert QUESTIONS[State.MOBILE] in chat.text()
    await chat.say("12345")  # still explained while correcting
    assert "Please type a mobile number: in Taiwan" in chat.text()
    await chat.say("0987-654-321")
    assert "Mobile: 0987-654-321" in chat.text()
    assert chat.labels() == ["Submit", "Correct a field"]
    await chat.press("Submit")
    (application,) = await _applications(services)
    assert application.mobile == "0987654321"


async def test_correcting_the_id_number_changes_its_hash_and_first_password(
    chat: Chat, services: Services
) -> None:
    await _to_review(chat)
    await chat.press("Correct a field")
    await chat.press("ID number")
    await chat.say("a800000014")
    assert "ID number: A8******14" in chat.text()
    await chat.press("Submit")
    (application,) = await _applications(services)
    assert application.id_number_hash == services.pii.id_number("A800000014")
    assert await services.passwords.verify(application.default_password_hash, "A800000014")
    assert not await services.passwords.verify(application.default_password_hash, ID_NUMBER)


async def test_an_entry_year_corrected_past_graduation_asks_for_graduation_again(
    chat: Chat, services: Services
) -> None:
    await _to_review(chat)
    await chat.press("Correct a field")
    await chat.press("Year of entry")
    await chat.say("2015")
    assert "The year of graduation you gave (2013) is before this year of entry" in chat.text()
    assert QUESTIONS[State.GRADUATION_YEAR] in chat.text()
    await chat.say("2019")
    assert "Year of entry: 2015 (ROC 104)" in chat.text()
    assert "Year of graduation: 2019 (ROC 108)" in chat.text()
    assert chat.labels() == ["Submit", "Correct a field"]


async def test_back_to_the_summary_changes_nothing(chat: Chat, services: Services) -> None:
    await _to_review(chat)
    before = await _snapshot(services, chat)
    await chat.press("Correct a field")
    await chat.press("Back to the summary")
    assert "Mobile: 0912-345-678" in chat.text()
    assert await _snapshot(services, chat) == before


# -- consent, duplicates, linked chats --------------------------------------------------------


async def test_declining_the_notice_ends_the_flow_and_stores_nothing(
    chat: Chat, services: Services
) -> None:
    await _fill(chat)
    await chat.press("I do not agree")
    assert "You did not agree to the personal data notice" in chat.text()
    assert "nothing you typed was stored" in chat.text()
    assert "What can I help you with?" in chat.text()
    assert await _applications(services) == []
    async with services.sessions() as session:
        assert (await session.scalars(select(OutboundMail))).all() == []
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.flow == "alumni_account"))
        ).all()
        assert events == []
    assert await _snapshot(services, chat) == (None, {})


async def test_an_application_cannot_be_submitted_twice(
    chat: Chat, services: Services, engine: Engine
) -> None:
    await _to_review(chat)
    await chat.press("Submit")
    # Again from the same chat: refused as soon as the ID number is known.
    await _fill(chat, State.BIRTHDAY)
    assert "You have already applied on 2026-09-01; it is waiting for review." in chat.text()
    assert "What can I help you with?" in chat.text()
    # Two chats at the review at once: the second submission is refused.
    first, second = Chat(engine, user="first"), Chat(engine, user="second")
    await _to_review(first, id_number="A800000014")
    await _to_review(second, id_number="a800000014")
    await first.press("Submit")
    assert "was received" in first.text()
    await second.press("Submit")
    assert "You have already applied on 2026-09-01; it is waiting for review." in second.text()
    applications = await _applications(services)
    assert [(a.chat_id, a.status) for a in applications] == [
        ("alice", "pending"),
        ("first", "pending"),
    ]


async def test_a_student_id_that_already_has_an_alumni_account_is_refused(
    chat: Chat, services: Services
) -> None:
    person = await add_student(
        services, id_number="A800000014", birthday=dt.date(1990, 1, 1), student_id="109205003"
    )
    async with services.sessions() as session, session.begin():
        session.add(
            Account(
                person_id=person.id,
                username="B10920500300",
                kind=AccountKind.ALUMNI,
                password_hash="x",
                password_changed_at=services.clock.now(),
            )
        )
    await _to_review(chat)
    await chat.press("Submit")
    assert "The alumni account B10920500300 already exists." in chat.text()
    # Seed 003 gives the alumni centre's phone and hours; the reply names them.
    assert (
        "Please contact the Alumni Centre: phone 02-2345-6703, working days 09:00-17:00, "
        "https://alumni.demo.edu.tw/." in chat.text()
    )
    assert await _applications(services) == []


async def test_a_linked_chat_is_told_it_already_has_an_account(
    chat: Chat, services: Services
) -> None:
    person = await add_student(
        services, id_number=ID_NUMBER, birthday=BIRTHDAY, student_id="211300001"
    )
    await chat.say("/start")
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(ChatIdentity)
            .where(ChatIdentity.platform_user_id == chat.user)
            .values(person_id=person.id, linked_at=services.clock.now())
        )
    await chat.press(TITLE)
    assert "This chat is already linked to an account" in chat.text()
    assert "What can I help you with?" in chat.text()


async def test_cancel_in_the_middle_keeps_nothing(chat: Chat, services: Services) -> None:
    await _fill(chat, State.MOBILE)
    await chat.say("/cancel")
    assert "Cancelled. Nothing was changed." in chat.text()
    assert await _snapshot(services, chat) == (None, {})
    assert await _applications(services) == []


# -- staff review: helpdesk alumni ------------------------------------------------------------

runner = CliRunner()

__all__ = ["cli_env"]


def _apply(settings: Settings, user: str = "alice", **changes: str) -> None:
    async def work(services: Services) -> None:
        chat = Chat(Engine(services), user=user)
        await _to_review(chat, **changes)
        await chat.press("Submit")
        assert "was received" in chat.text()

    in_database(settings, work)


def _alumni(*args: str) -> Any:
    return runner.invoke(helpdesk_app, ["alumni", *args])


def test_staff_list_pending_applications_with_the_id_number_masked(cli_env: Settings) -> None:
    assert "No pending applications." in _alumni("applications").stdout
    _apply(cli_env)
    listed = _alumni("applications")
    assert listed.exit_code == 0, listed.output
    for shown in ("王大同 Wang Da-Tong", "F1******93", "109205003", "2009-2013"):
        assert shown in listed.stdout
    _assert_no_secrets(listed.stdout)


def test_approving_creates_the_alumnus_record_and_account_and_tells_the_applicant(
    cli_env: Settings,
) -> None:
    _apply(cli_env)
    approved = _alumni("approve", "1")
    assert approved.exit_code == 0, approved.output
    assert "Application 1: approved, account B10920500300" in approved.stdout

    async def check(services: Services) -> None:
        async with services.sessions() as session:
            (person,) = (await session.scalars(select(Person))).all()
            (record,) = (await session.scalars(select(StudentRecord))).all()
            (account,) = (await session.scalars(select(Account))).all()
            (application,) = (await session.scalars(select(AlumniApplication))).all()
            (notice,) = (await session.scalars(select(ChatNotice))).all()
            mails = (await session.scalars(select(OutboundMail).order_by(OutboundMail.id))).all()
            identity = await session.scalar(select(ChatIdentity))
        assert person.role == "alumnus" and person.id_number_masked == "F1******93"
        assert person.id_number_hash == services.pii.id_number(ID_NUMBER)
        assert person.birthday_hash == services.pii.birthday(BIRTHDAY)
        assert person.notification_email == "Wang@example.com"
        assert (record.person_id, record.student_id, record.status) == (
            person.id,
            "109205003",
            "graduated",
        )
        assert (record.degree_level, record.entry_year) == ("master", 2009)
        assert (account.username, account.kind, account.must_change) == (
            "B10920500300",
            "alumni",
            True,
        )
        assert account.person_id == person.id
        assert await services.passwords.verify(account.password_hash, ID_NUMBER)
        assert application.status == "approved" and application.account == "B10920500300"
        assert application.decided_at is not None
        assert (notice.channel, notice.chat_id) == ("test", "alice")
        assert "Your account is B10920500300." in notice.text
        assert "with its letters in upper case" in notice.text
        assert "you must change it at that login" in notice.text
        assert mails[-1].to_address == "Wang@example.com"
        assert "B10920500300" in mails[-1].body
        # Approving links no chat.
        assert identity is not None and identity.person_id is None

    in_database(cli_env, check)
    again = _alumni("approve", "1")
    assert again.exit_code == 1 and "not pending" in again.stderr
    assert _alumni("reject", "1", "--reason", "late").exit_code == 1


def test_approving_adds_the_account_to_the_matching_person_already_in_the_directory(
    cli_env: Settings,
) -> None:
    async def add(services: Services) -> int:
        person = await add_student(
            services,
            id_number=ID_NUMBER,
            birthday=BIRTHDAY,
            student_id="109205003",
            name_zh="王大同",
            name_en="Wang Da-Tong",
        )
        return person.id

    person_id = in_database(cli_env, add)
    _apply(cli_env)
    listed = _alumni("applications")
    assert "CONFLICT" not in listed.stdout
    approved = _alumni("approve", "1")
    assert approved.exit_code == 0, approved.output

    async def check(services: Services) -> None:
        async with services.sessions() as session:
            (person,) = (await session.scalars(select(Person))).all()
            assert len((await session.scalars(select(StudentRecord))).all()) == 1
            account = await session.scalar(select(Account))
        assert account is not None and account.person_id == person_id
        # The applicant's e-mail never becomes the existing person's address.
        assert person.notification_email is None

    in_database(cli_env, check)


def test_a_person_whose_name_differs_is_flagged_and_approved_only_with_an_audited_override(
    cli_env: Settings,
) -> None:
    async def add(services: Services) -> None:
        await add_student(services, id_number=ID_NUMBER, birthday=BIRTHDAY, student_id="109205003")

    in_database(cli_env, add)
    _apply(cli_env)
    listed = _alumni("applications")
    assert "CONFLICT" in listed.stdout and "Chinese name differs" in listed.stdout
    refused = _alumni("approve", "1")
    assert refused.exit_code == 1 and "conflicts with the directory" in refused.stderr

    async def nothing(services: Services) -> None:
        async with services.sessions() as session:
            assert (await session.scalars(select(Account))).all() == []

    in_database(cli_env, nothing)
    approved = _alumni("approve", "1", "--override", "registrar confirmed the name change")
    assert approved.exit_code == 0, approved.output

    async def check(services: Services) -> None:
        async with services.sessions() as session:
            account = await session.scalar(select(Account))
            event = await session.scalar(
                select(AuditEvent).where(AuditEvent.flow == "alumni_admin")
            )
        assert account is not None and account.username == "B10920500300"
        assert event is not None and event.outcome == "override"
        assert "registrar confirmed the name change" in json.dumps(event.detail, ensure_ascii=False)

    in_database(cli_env, check)


def test_a_student_id_of_someone_else_in_the_directory_is_not_approved(
    cli_env: Settings,
) -> None:
    async def add(services: Services) -> None:
        await add_student(
            services, id_number="A800000014", birthday=BIRTHDAY, student_id="109205003"
        )

    in_database(cli_env, add)
    _apply(cli_env)
    refused = _alumni("approve", "1")
    assert refused.exit_code == 1
    assert "belongs to another person" in refused.stderr

    async def check(services: Services) -> None:
        async with services.sessions() as session:
            assert (await session.scalars(select(Account))).all() == []
            application = await session.get(AlumniApplication, 1)
        assert application is not None and application.status == "pending"

    in_database(cli_env, check)


def test_rejecting_tells_the_applicant_why_in_chat_and_by_mail(cli_env: Settings) -> None:
    _apply(cli_env)
    assert _alumni("reject", "1", "--reason", " ").exit_code == 1
    rejected = _alumni("reject", "1", "--reason", "Not in the graduation register")
    assert rejected.exit_code == 0, rejected.output

    async def check(services: Services) -> None:
        async with services.sessions() as session:
            (application,) = (await session.scalars(select(AlumniApplication))).all()
            (notice,) = (await session.scalars(select(ChatNotice))).all()
            mails = (await session.scalars(select(OutboundMail).order_by(OutboundMail.id))).all()
            assert (await session.scalars(select(Account))).all() == []
        assert application.status == "rejected"
        assert application.reason == "Not in the graduation register"
        expected = (
            "Your application for an alumni account (number 1) was not approved. "
            "Reason: Not in the graduation register"
        )
        assert notice.text == expected
        assert mails[-1].body == expected
        # The applicant may apply again once rejected.
        chat = Chat(Engine(services), user="alice")
        await _to_review(chat)
        await chat.press("Submit")
        assert "was received (number 2)" in chat.text()

    in_database(cli_env, check)
    assert _alumni("approve", "99").exit_code == 1


def test_the_cli_lists_its_commands() -> None:
    shown = runner.invoke(helpdesk_app, ["alumni", "--help"])
    for command in ("applications", "approve", "reject"):
        assert command in shown.stdout


# -- no hashing under a database lock (issue 16.2) -------------------------------------------


async def test_the_first_password_is_hashed_while_no_database_transaction_is_open(
    chat: Chat, services: Services
) -> None:
    # argon2 takes tens of milliseconds of CPU; inside the step's transaction it would
    # hold SQLite's write lock (or the chat's row lock) from every other chat meanwhile.
    open_transactions = 0

    def began(conn: object) -> None:
        nonlocal open_transactions
        open_transactions += 1

    def ended(conn: object) -> None:
        nonlocal open_transactions
        open_transactions -= 1

    seen: list[int] = []

    class Watching(PasswordHasher):
        async def hash(self, password: str) -> str:
            seen.append(open_transactions)
            return await super().hash(password)

    sync_engine = services.engine.sync_engine
    event.listen(sync_engine, "begin", began)
    event.listen(sync_engine, "commit", ended)
    event.listen(sync_engine, "rollback", ended)
    services.passwords = Watching.from_settings(services.settings)
    try:
        await _fill(chat, State.BIRTHDAY)
    finally:
        for name, fn in (("begin", began), ("commit", ended), ("rollback", ended)):
            event.remove(sync_engine, name, fn)
    assert "Please type your birthday" in chat.text()
    assert seen == [0]
    state, data = await _snapshot(services, chat)
    assert state == State.BIRTHDAY
    assert PasswordHasher.from_settings(services.settings).verify_sync(
        data["password_hash"], ID_NUMBER
    )
