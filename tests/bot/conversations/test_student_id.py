"""Student ID lookup (seed 001): answers, explanations, uniform misses, limits, audit."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlalchemy import select, text, update

from bot.engine import Engine
from bot.services import Services
from core.clock import FakeClock
from core.models import AuditEvent, ConversationState, RecordStatus, StudentRecord
from core.profiles import Profile, load_profile
from tests.chat import Chat
from tests.directory_backends import Backend, backend, slapd_server, sync_index
from tests.factories import LIN_BIRTHDAY, LIN_ID_NUMBER, LIN_STUDENT_ID, add_student

__all__ = ["backend", "slapd_server"]

ID_NUMBER = "F131104093"  # DESIGN.md's valid example
BIRTHDAY = dt.date(1996, 1, 2)


@pytest.fixture
async def student(services: Services) -> None:
    await add_student(services, id_number=ID_NUMBER, birthday=BIRTHDAY, student_id="211300001")


async def _look_up(
    chat: Chat, level: str, id_number: str, birthday: str, flow: str = "Look up my student ID"
) -> str:
    await chat.say("/start")
    await chat.press(flow)
    await chat.press(level)
    await chat.say(id_number)
    await chat.say(birthday)
    return chat.text()


@pytest.mark.usefixtures("student")
@pytest.mark.parametrize(
    ("id_number", "birthday"),
    [
        ("F131104093", "1996-01-02"),
        ("f131104093", "85/01/02"),
        ("Ｆ１３１１０４０９３", "８５０１０２"),
        (" F 1311 04093 ", "19960102"),
        ("F131\u200b104093", "民國85年1月2日"),
    ],
)
async def test_a_match_answers_with_the_student_id_and_what_to_do_next(
    chat: Chat, id_number: str, birthday: str
) -> None:
    answer = await _look_up(chat, "Master's programme", id_number, birthday)
    assert "Your student ID is 211300001." in answer
    assert "a211300001@grad.demo.edu.tw" in answer
    assert "33445@Demo" in answer  # the profile's first-login password rule


@pytest.mark.usefixtures("student")
async def test_a_match_in_chinese(engine: Engine) -> None:
    chat = Chat(engine, user="zh", locale="zh-TW")
    answer = await _look_up(chat, "碩士班", ID_NUMBER, "85/1/2", flow="查詢學號")
    assert "您的學號是 211300001。" in answer


@pytest.mark.usefixtures("student")
async def test_a_miss_reads_the_same_whatever_did_not_match(engine: Engine) -> None:
    other_valid_id = "A800000014"
    answers = [
        await _look_up(Chat(engine, user="u1"), "Master's programme", ID_NUMBER, "1996-01-03"),
        await _look_up(Chat(engine, user="u2"), "Bachelor's programme", ID_NUMBER, "1996-01-02"),
        await _look_up(Chat(engine, user="u3"), "Master's programme", other_valid_id, "1996-01-02"),
    ]
    # The retry button names the level the user chose; everything else reads the same.
    answers[1] = answers[1].replace("Bachelor's programme", "Master's programme")
    assert answers[0] == answers[1] == answers[2]
    assert "No student ID matches" in answers[0]
    assert "211300001" not in answers[0]


@pytest.mark.parametrize(
    ("typed", "explanation"),
    [
        ("A123456788", "check digit does not match"),
        ("AA00000008", "resident certificate number of the old form"),
        ("A800000015", "resident certificate number of the new form"),
        ("A323456789", "second character must be 1 or 2"),
        ("A12345678", "10 characters"),
        ("1123456789", "starts with a letter"),
        ("A1234S6789", "only digits"),
        ("x" * 300, "far longer"),
    ],
)
async def test_a_bad_id_number_is_explained_and_asked_again(
    chat: Chat, services: Services, typed: str, explanation: str
) -> None:
    await chat.say("/start")
    await chat.press("Look up my student ID")
    await chat.press("Master's programme")
    await chat.say(typed)
    assert explanation in chat.text()
    assert "national ID number" in chat.text()  # the same question again
    async with services.sessions() as session:
        state = await session.get(ConversationState, (chat.channel, chat.user))
        assert state is not None and state.state == "id_number"


@pytest.mark.parametrize(
    ("typed", "explanation"),
    [
        ("1996-02-30", "does not exist"),
        ("2099-01-01", "in the future"),
        ("1850-01-01", "before 1900"),
        ("yesterday", "could not read"),
    ],
)
async def test_a_bad_birthday_is_explained_and_asked_again(
    chat: Chat, typed: str, explanation: str
) -> None:
    await chat.say("/start")
    await chat.press("Look up my student ID")
    await chat.press("Master's programme")
    await chat.say(ID_NUMBER)
    await chat.say(typed)
    assert explanation in chat.text()
    assert "Please type your birthday" in chat.text()


async def test_the_id_number_is_never_stored_in_the_conversation(
    chat: Chat, services: Services
) -> None:
    await chat.say("/start")
    await chat.press("Look up my student ID")
    await chat.press("Master's programme")
    await chat.say(ID_NUMBER)
    async with services.sessions() as session:
        state = await session.get(ConversationState, (chat.channel, chat.user))
        assert state is not None
        assert ID_NUMBER not in repr(state.data)
        assert state.data["id_hash"] == services.pii.id_number(ID_NUMBER)


@pytest.mark.usefixtures("student")
async def test_five_misses_lock_the_user_for_fifteen_minutes(chat: Chat, clock: FakeClock) -> None:
    for _ in range(5):
        await _look_up(chat, "Master's programme", ID_NUMBER, "2000-01-01")
    assert "paused for you until" in chat.text()
    # Even the right answer is refused while locked, and the user is told when to return.
    await chat.say("/start")
    await chat.press("Look up my student ID")
    assert "paused for you until 2026-09-01 11:15" in chat.text()  # 03:15 UTC in Taipei
    clock.advance(minutes=16)
    answer = await _look_up(chat, "Master's programme", ID_NUMBER, "1996-01-02")
    assert "Your student ID is 211300001." in answer


@pytest.mark.usefixtures("student")
async def test_the_lock_of_one_user_does_not_lock_another(engine: Engine) -> None:
    attacker = Chat(engine, user="attacker")
    for _ in range(5):
        await _look_up(attacker, "Master's programme", ID_NUMBER, "2000-01-01")
    answer = await _look_up(Chat(engine, user="owner"), "Master's programme", ID_NUMBER, "85/01/02")
    assert "Your student ID is 211300001." in answer


@pytest.mark.usefixtures("student")
async def test_one_id_number_has_a_daily_cap_across_users(engine: Engine) -> None:
    for n in range(10):  # the demo profile's lookups_per_id_per_day
        await _look_up(Chat(engine, user=f"u{n}"), "Master's programme", ID_NUMBER, "85/01/02")
    answer = await _look_up(Chat(engine, user="u10"), "Master's programme", ID_NUMBER, "85/01/02")
    assert "looked up too often today" in answer
    assert "211300001" not in answer


@pytest.mark.usefixtures("student")
async def test_every_attempt_is_audited_without_personal_data(
    engine: Engine, services: Services
) -> None:
    await _look_up(Chat(engine, user="hit"), "Master's programme", ID_NUMBER, "85/01/02")
    await _look_up(Chat(engine, user="miss"), "Master's programme", ID_NUMBER, "85/01/03")
    async with services.sessions() as session:
        events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
        dump = (await session.execute(text("SELECT * FROM audit_events"))).all()
    assert [(e.flow, e.action, e.outcome) for e in events] == [
        ("student_id", "lookup", "match"),
        ("student_id", "lookup", "no_match"),
    ]
    assert events[0].actor == services.pii.chat_user("test", "hit")
    for forbidden in (ID_NUMBER, "1996-01-02", "85/01/02", "hit", "miss"):
        assert forbidden not in repr(dump)


@pytest.mark.usefixtures("student")
async def test_no_log_line_or_audit_row_holds_an_id_number_or_birthday(
    engine: Engine, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # SQL and parameters too
    try:
        chat = Chat(engine, user="logged")
        await _look_up(chat, "Master's programme", ID_NUMBER, "85/01/02")
        await _look_up(chat, "Master's programme", "A123456788", "1996-01-02")
        await _look_up(chat, "Master's programme", ID_NUMBER, "1996-01-03")
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    async with services.sessions() as session:
        audit_rows = repr((await session.execute(text("SELECT * FROM audit_events"))).all())
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "step channel=test" in logged  # the capture did see the engine's lines
    for secret in (
        ID_NUMBER,
        ID_NUMBER.lower(),
        "A123456788",
        "1996-01-02",
        "1996-01-03",
        "85/01/02",
        "19960102",
    ):
        assert secret not in logged
        assert secret not in audit_rows


@pytest.mark.usefixtures("student")
async def test_the_global_cap_per_minute_answers_busy(services: Services, clock: FakeClock) -> None:
    limits = services.profile.limits.model_copy(update={"lookups_global_per_minute": 2})
    services.profile = services.profile.model_copy(update={"limits": limits})
    engine = Engine(services)
    for n in range(2):
        await _look_up(Chat(engine, user=f"g{n}"), "Master's programme", ID_NUMBER, "85/01/02")
    answer = await _look_up(Chat(engine, user="g2"), "Master's programme", ID_NUMBER, "85/01/02")
    assert "Many people are asking right now" in answer
    clock.advance(seconds=61)
    answer = await _look_up(Chat(engine, user="g3"), "Master's programme", ID_NUMBER, "85/01/02")
    assert "Your student ID is 211300001." in answer


@pytest.mark.usefixtures("student")
async def test_a_miss_names_the_registration_office_with_its_phone_and_hours(
    engine: Engine,
) -> None:
    en = await _look_up(Chat(engine, user="en"), "Master's programme", ID_NUMBER, "1996-01-03")
    assert "Please contact the Registration Office: phone 02-2345-6701" in en
    zh_chat = Chat(engine, user="zh", locale="zh-TW")
    zh = await _look_up(zh_chat, "碩士班", ID_NUMBER, "1996-01-03", flow="查詢學號")
    assert "請聯絡教務處註冊組：電話 02-2345-6701，上班日 08:30-17:00" in zh


@pytest.mark.usefixtures("student")
async def test_a_miss_offers_to_try_again_with_the_same_degree_level(
    chat: Chat, services: Services
) -> None:
    await _look_up(chat, "Master's programme", ID_NUMBER, "1996-01-03")
    assert "Try again (Master's programme)" in chat.labels()
    await chat.press("Try again (Master's programme)")
    assert "national ID number" in chat.text()  # the level is not asked again
    await chat.say(ID_NUMBER)
    await chat.say("1996-01-02")
    assert "Your student ID is 211300001." in chat.text()


@pytest.mark.usefixtures("student")
async def test_after_a_miss_a_typed_id_number_starts_the_retry(engine: Engine) -> None:
    chat = Chat(engine, user="zh", locale="zh-TW")
    await _look_up(chat, "碩士班", ID_NUMBER, "1996-01-03", flow="查詢學號")
    assert "再查一次（碩士班）" in chat.labels()
    await chat.say(ID_NUMBER)
    await chat.say("85/01/02")
    assert "您的學號是 211300001。" in chat.text()


@pytest.mark.usefixtures("student")
async def test_after_a_miss_another_level_can_be_chosen(chat: Chat) -> None:
    await _look_up(chat, "Bachelor's programme", ID_NUMBER, "1996-01-02")
    await chat.say("change level")
    await chat.say("碩士")
    await chat.say(ID_NUMBER)
    await chat.say("19960102")
    assert "Your student ID is 211300001." in chat.text()


@pytest.mark.usefixtures("student")
@pytest.mark.parametrize(
    ("locale", "typed"),
    [
        ("en", "碩士"),
        ("en", "master"),
        ("en", "Master's"),
        ("en", "MS"),
        ("zh-TW", "碩士"),
        ("zh-TW", "研究所"),
        ("zh-TW", "Master"),
        ("zh-TW", "master's programme"),
    ],
)
async def test_a_degree_level_can_be_typed_as_people_say_it(
    engine: Engine, locale: str, typed: str
) -> None:
    chat = Chat(engine, user=f"typed-{locale}-{typed}", locale=locale)
    await chat.say("/start")
    await chat.press("Look up my student ID" if locale == "en" else "查詢學號")
    await chat.say(typed)
    await chat.say(ID_NUMBER)
    await chat.say("1996-01-02")
    assert "211300001" in chat.text(), (typed, chat.text())


@pytest.mark.parametrize(
    ("typed", "level"),
    [
        ("Bachelor", "Bachelor's programme"),
        ("學士", "Bachelor's programme"),
        ("大學部", "Bachelor's programme"),
        ("博士", "Doctoral programme"),
        ("PhD", "Doctoral programme"),
        ("Ph.D.", "Doctoral programme"),
    ],
)
async def test_other_degree_levels_are_understood_by_their_synonyms(
    engine: Engine, services: Services, typed: str, level: str
) -> None:
    await add_student(
        services,
        id_number=ID_NUMBER,
        birthday=BIRTHDAY,
        student_id="211300009",
        degree_level={"Bachelor's programme": "bachelor"}.get(level, "doctoral"),
    )
    chat = Chat(engine, user=f"syn-{typed}")
    await chat.say("/start")
    await chat.press("Look up my student ID")
    await chat.say(typed)
    await chat.say(ID_NUMBER)
    await chat.say("1996-01-02")
    assert "211300009" in chat.text(), (typed, chat.text())


async def _graduate(services: Services, student_id: str) -> None:
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(StudentRecord)
            .where(StudentRecord.student_id == student_id)
            .values(status=RecordStatus.GRADUATED)
        )


async def test_an_ntu_student_is_not_sent_to_the_alumni_site_and_an_alumnus_gets_his_account(
    engine: Engine, services: Services
) -> None:
    """Issue 15.2: seed 003's account and first-login password are for alumni only."""
    services.profile = load_profile("ntu")
    await add_student(services, id_number=ID_NUMBER, birthday=BIRTHDAY, student_id="R11921001")
    await add_student(
        services,
        id_number="A128573490",
        birthday=dt.date(1985, 11, 5),
        student_id="B09205003",
        degree_level="bachelor",
    )
    await _graduate(services, "B09205003")
    zh = Chat(engine, user="ntu-student", locale="zh-TW")
    student = await _look_up(zh, "碩士班", ID_NUMBER, "85/01/02", flow="查詢學號")
    assert "您的學號是 R11921001。" in student
    assert "校友中心" not in student and "alumni.ntu.edu.tw" not in student
    assert "身分證字號" not in student.split("。", 1)[1]  # no first-login password rule

    alumnus = await _look_up(
        Chat(engine, user="ntu-alumnus", locale="zh-TW"),
        "學士班",
        "A128573490",
        "74/11/05",
        flow="查詢學號",
    )
    assert "您的校友帳號是 BB0920500300。" in alumnus
    assert "以 BB0920500300 為帳號" in alumnus and "以學號為帳號" not in alumnus
    assert "https://www.alumni.ntu.edu.tw/" in alumnus
    assert "02-33662042" in alumnus  # the alumni centre, seed 003


async def test_ntue_tells_each_group_its_own_first_login_password(
    engine: Engine, services: Services
) -> None:
    """Seed 001: 14 characters for a national ID, 12 for new students from abroad, who are
    never told the campus portal's last-five-digits rule."""
    services.profile = load_profile("ntue")
    await add_student(services, id_number=ID_NUMBER, birthday=BIRTHDAY, student_id="211300001")
    await add_student(
        services,
        id_number="H803527162",  # a resident certificate of the new form
        birthday=dt.date(1998, 9, 30),
        student_id="311204004",
        degree_level="doctoral",
    )
    national = await _look_up(
        Chat(engine, user="tw", locale="zh-TW"), "碩士班", ID_NUMBER, "85/01/02", flow="查詢學號"
    )
    assert "共 14 碼" in national and "33445@Ntue" in national
    resident = await _look_up(
        Chat(engine, user="abroad", locale="zh-TW"),
        "博士班",
        "H803527162",
        "1998-09-30",
        flow="查詢學號",
    )
    assert "您的學號是 311204004。" in resident
    assert "共 12 碼" in resident
    assert "後五碼" not in resident and "@Ntue" not in resident
    english = await _look_up(
        Chat(engine, user="abroad-en"), "Doctoral programme", "H803527162", "1998-09-30"
    )
    assert "12 characters" in english and "last five" not in english


async def _a_graduate(backend: Backend) -> tuple[str, dt.date, str, str]:
    """(ID number, birthday, degree level, student ID) of a graduate in the backend.

    SQL: the fixture's Lin, graduated. LDAP: a demo alumnus whose entry says so in the
    directory's own word (the example profile's 畢業), found through the synced index.
    """
    services = backend.services
    if backend.server is None:
        await _graduate(services, LIN_STUDENT_ID)
        return LIN_ID_NUMBER, LIN_BIRTHDAY, "master", LIN_STUDENT_ID
    await sync_index(services)
    alumnus = backend.server.graduate(services.profile)
    assert alumnus.student_id and alumnus.degree_level
    return alumnus.id_number, alumnus.birthday, alumnus.degree_level, alumnus.student_id


def _with_demo_answers(profile: Profile) -> Profile:
    """The demo profile's answers per group and its offices, whatever holds the accounts."""
    demo = load_profile("demo")
    return profile.model_copy(update={"lookup": demo.lookup, "contacts": demo.contacts})


async def test_a_graduate_gets_the_alumni_answer_on_either_directory(backend: Backend) -> None:
    """The record's status reaches the answer: from SQL, or from the LDAP entry's status
    attribute through the synced index."""
    services = backend.services
    id_number, birthday, level, student_id = await _a_graduate(backend)
    services.profile = _with_demo_answers(services.profile)
    level_name = services.profile.degree_level(level)
    assert level_name is not None
    chat = Chat(Engine(services), user="graduate")
    answer = await _look_up(chat, level_name.name.en, id_number, birthday.isoformat())
    assert f"Your student ID is {student_id}." in answer
    assert f"Your alumni account is B{student_id}00." in answer
    assert "Demo University alumni site" in answer
    assert "02-2345-6703" in answer  # the alumni centre
    assert "campus mailbox" not in answer and "@grad.demo.edu.tw" not in answer
