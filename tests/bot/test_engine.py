"""The engine: commands, buttons, dedupe, persistence, time-outs, bad input."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select, update
from sqlalchemy import text as sql

from bot.card_images import cipher_of
from bot.engine import Engine
from bot.services import Services
from bot.types import Choices, Text
from core.cards import issue_card
from core.clock import FakeClock
from core.db import create_engine, is_sqlite
from core.models import ChatIdentity, ChatNotice, ConversationState
from tests.bot.cli.conftest import cli_env, helpdesk  # noqa: F401  (the staff shell)
from tests.chat import Chat
from tests.factories import add_student


async def _state(services: Services, chat: Chat) -> ConversationState:
    async with services.sessions() as session:
        row = await session.get(ConversationState, (chat.channel, chat.user))
        assert row is not None
        return row


async def test_start_greets_with_the_institution_and_shows_the_menu(chat: Chat) -> None:
    await chat.say("/start")
    assert "Demo University" in chat.text()
    assert "Look up my student ID" in chat.labels()
    assert "Language / 語言" in chat.labels()


async def test_a_chinese_platform_locale_gets_chinese_replies(engine: Engine) -> None:
    for hint in ("zh", "zh-TW", "zh-Hant", "zh-HK"):
        chat = Chat(engine, user=f"u-{hint}", locale=hint)
        await chat.say("/start")
        assert "請問需要什麼協助？" in chat.text(), hint
        assert "查詢學號" in chat.labels()


async def test_choosing_a_language_is_remembered_for_the_user(
    engine: Engine, services: Services
) -> None:
    chat = Chat(engine, user="bob", locale="en")
    await chat.say("/start")
    await chat.press("Language / 語言")
    assert chat.labels() == ["中文（臺灣）", "English"]
    await chat.press("中文（臺灣）")
    assert "已將語言設定為中文。" in chat.text()
    await chat.say("/menu")
    assert "查詢學號" in chat.labels()
    async with services.sessions() as session:
        identity = await session.scalar(
            select(ChatIdentity).where(ChatIdentity.platform_user_id == "bob")
        )
        assert identity is not None and identity.locale == "zh_TW"


@pytest.mark.usefixtures("cli_env")
async def test_a_staff_action_reaches_each_user_in_the_language_their_chat_uses(
    engine: Engine, services: Services
) -> None:
    """Issue 15.5: the platform's hint is remembered for notices; a chosen language wins."""
    chats = {
        "en": Chat(engine, user="en-user", locale="en"),
        "zh": Chat(engine, user="zh-user", locale="zh-TW"),
        "chose-en": Chat(engine, user="chose-en", locale="zh-TW"),
    }
    await chats["chose-en"].say("/language en")
    cards = {}
    for n, (key, chat) in enumerate(chats.items()):
        await chat.say("/start")
        person = await add_student(
            services,
            id_number=("F131104093", "A800000014", "A128573490")[n],
            birthday=dt.date(1985, 11, 5),
            student_id=f"10920500{n}",
        )
        async with services.sessions() as session, session.begin():
            await session.execute(
                update(ChatIdentity)
                .where(ChatIdentity.platform_user_id == chat.user)
                .values(person_id=person.id)
            )
            card = await issue_card(
                session,
                cipher_of(services),
                person_id=person.id,
                card_type="electronic",
                valid_until=dt.date(2030, 6, 30),
                now=services.clock.now(),
            )
        cards[key] = card.id
    for card_id in cards.values():
        result = await asyncio.to_thread(helpdesk, "card", "revoke", str(card_id))
        assert result.exit_code == 0, result.output
    async with services.sessions() as session:
        notices = {n.chat_id: n.text for n in await session.scalars(select(ChatNotice))}
    assert "was revoked and no longer works" in notices["en-user"]
    assert "was revoked and no longer works" in notices["chose-en"]
    assert "已被註銷" in notices["zh-user"], notices["zh-user"]


async def test_language_command_with_an_argument_switches_directly(chat: Chat) -> None:
    await chat.say("/language zh-TW")
    assert "已將語言設定為中文。" in chat.text()
    await chat.say("語言 English")
    assert "Language set to English." in chat.text()


async def test_a_choice_can_be_typed_as_its_number_or_label(chat: Chat) -> None:
    await chat.say("/start")
    await chat.say("1")
    assert "Which degree programme" in chat.text()
    await chat.say("/menu")
    await chat.say("ｌｏｏｋ up my STUDENT id")  # full-width and any case
    assert "Which degree programme" in chat.text()


async def test_cancel_ends_the_flow_and_says_nothing_changed(
    chat: Chat, services: Services
) -> None:
    await chat.say("/start")
    await chat.press("Look up my student ID")
    await chat.say("/cancel")
    assert "Cancelled. Nothing was changed." in chat.text()
    state = await _state(services, chat)
    assert state.flow is None
    await chat.say("取消")
    assert "There is nothing to cancel." in chat.text()


async def test_help_explains_commands_and_asks_the_current_question_again(chat: Chat) -> None:
    await chat.say("/start")
    await chat.press("Look up my student ID")
    await chat.press("Master's programme")
    await chat.say("/help")
    assert "/cancel" in chat.text()
    assert "national ID number" in chat.text()


async def test_the_same_delivery_twice_is_processed_once(chat: Chat, services: Services) -> None:
    await chat.say("/start")
    press = chat.incoming(action=chat.action_for("Look up my student ID"))
    first = await chat.send(press)
    version = (await _state(services, chat)).version
    second = await chat.send(press)
    assert any(isinstance(r, Choices) for r in first)
    assert second == []
    assert (await _state(services, chat)).version == version


async def test_a_delivery_id_seen_longer_ago_than_the_retention_is_a_new_message(
    chat: Chat, clock: FakeClock
) -> None:
    """Telegram reuses update ids; a row the purge has not reached yet must not eat one."""
    first = chat.incoming(text="/start", delivery_id="update-7")
    assert await chat.send(first) != []
    clock.advance(hours=12)
    assert await chat.send(chat.incoming(text="/help", delivery_id="update-7")) == []
    clock.advance(hours=13)  # 25 hours after the first: beyond core.deliveries.RETENTION
    again = await chat.send(chat.incoming(text="/help", delivery_id="update-7"))
    assert "/cancel" in chat.text() and again != []


async def test_the_chinese_help_names_the_chinese_command_words(engine: Engine) -> None:
    chat = Chat(engine, user="zh-help", locale="zh-TW")
    await chat.say("說明")
    for word in ("「選單」", "「取消」", "「語言」", "「說明」"):
        assert word in chat.text(), word
    await chat.say("選單")
    assert "請問需要什麼協助？" in chat.text()


async def test_a_stale_button_is_answered_and_changes_nothing(
    chat: Chat, services: Services
) -> None:
    await chat.say("/start")
    old_action = chat.action_for("Look up my student ID")
    await chat.press("Look up my student ID")
    before = await _state(services, chat)
    await chat.send(chat.incoming(action=old_action))
    assert "no longer works" in chat.text()
    after = await _state(services, chat)
    assert (after.flow, after.state) == (before.flow, before.state) == ("student_id", "level")
    # The question is asked again, with buttons that work.
    await chat.press("Bachelor's programme")
    assert "national ID number" in chat.text()


async def test_a_forged_button_payload_is_refused(chat: Chat, services: Services) -> None:
    await chat.say("/start")
    nonce = chat.action_for("Look up my student ID").split(":")[0]
    for forged in (f"{nonce}:flow:nonexistent", f"{nonce}:lang:xx", "garbage", "", ":" * 500):
        await chat.send(chat.incoming(action=forged))
        assert "no longer works" in chat.text()
    assert (await _state(services, chat)).flow is None


async def test_an_idle_conversation_times_out_and_the_next_message_is_told(
    chat: Chat, services: Services, clock: FakeClock
) -> None:
    await chat.say("/start")
    await chat.press("Look up my student ID")
    clock.advance(minutes=11)
    await chat.say("2")
    assert "ended after 10 minutes" in chat.text()
    assert (await _state(services, chat)).flow is None


async def test_a_conversation_within_the_timeout_continues(chat: Chat, clock: FakeClock) -> None:
    await chat.say("/start")
    await chat.press("Look up my student ID")
    clock.advance(minutes=9)
    await chat.say("2")
    assert "national ID number" in chat.text()


async def test_group_chats_are_pointed_to_a_direct_message(chat: Chat) -> None:
    await chat.send(chat.incoming(text="/start", private=False))
    assert "direct message" in chat.text()


async def test_unknown_text_when_idle_shows_the_menu_and_the_helpdesk(chat: Chat) -> None:
    await chat.say("qwzx plorf")
    assert "could not match that" in chat.text()
    assert "Please contact the Computer Centre service desk: phone 02-2345-6702" in chat.text()
    assert "Look up my student ID" in chat.labels()


@pytest.mark.parametrize(
    ("locale", "typed", "expected"),
    [
        ("zh-TW", "我忘記密碼了", "請問是哪個帳號？"),
        ("zh-TW", "學號怎麼查", "請選擇您錄取的學制："),
        ("en", "i forgot my password", "Which account?"),
        ("en", "what is my student id", "Which degree programme were you admitted to?"),
    ],
)
async def test_a_question_typed_at_the_menu_starts_its_flow(
    engine: Engine, locale: str, typed: str, expected: str
) -> None:
    chat = Chat(engine, user=f"q-{typed}", locale=locale)
    await chat.say("/start")
    await chat.say(typed)
    assert expected in chat.text(), chat.text()


async def test_a_question_that_needs_a_linked_chat_starts_with_linking(chat: Chat) -> None:
    await chat.say("my mailbox is suspended")
    assert "First, let us link this chat to your account." in chat.text()


async def test_a_question_the_faq_answers_gets_the_answer_in_the_chats_language(
    engine: Engine,
) -> None:
    zh = Chat(engine, user="faq-zh", locale="zh-TW")
    await zh.say("eduroam 怎麼連")
    assert zh.text().startswith("連線 eduroam\n\neduroam 是各校共通的無線網路")
    assert "查詢學號" in zh.labels()  # then the menu
    en = Chat(engine, user="faq-en", locale="en")
    await en.say("/ask how do I connect to eduroam")
    assert "eduroam" in en.text() and "無線網路" not in en.text()


async def test_two_close_intents_are_offered_as_did_you_mean_with_a_button_each(
    chat: Chat,
) -> None:
    await chat.say("password")
    assert "Did you mean one of these?" in chat.text()
    assert {"I forgot my password", "Change my password"} <= set(chat.labels())
    await chat.press("Change my password")
    assert "Which account?" in chat.text()


async def test_ask_alone_asks_for_the_question_and_the_next_text_is_routed(chat: Chat) -> None:
    await chat.say("/ask")
    assert "What is your question?" in chat.text()
    await chat.say("I forgot my student number")
    assert "Which degree programme were you admitted to?" in chat.text()


async def test_empty_huge_and_control_character_input_gets_an_answer(
    chat: Chat, services: Services
) -> None:
    await chat.say("/start")
    await chat.press("Look up my student ID")
    await chat.press("Bachelor's programme")
    for text in ("", "   ", "\x00\x01\x02", "x" * 100_000, "😀" * 5000, "\u200b\u200f"):
        replies = await chat.say(text)
        assert replies, repr(text[:10])
        assert all(isinstance(r, Text | Choices) for r in replies)
    state = await _state(services, chat)
    assert (state.flow, state.state) == ("student_id", "id_number")


async def test_a_resume_asks_the_current_question_without_changing_state(
    chat: Chat, services: Services
) -> None:
    await chat.say("/start")
    await chat.press("Look up my student ID")
    await chat.send(chat.incoming(text=None, delivery_id=None))
    assert "Which degree programme" in chat.text()
    await chat.press("Doctoral programme")
    assert "national ID number" in chat.text()


async def test_different_chats_do_not_share_state(engine: Engine) -> None:
    alice, bob = Chat(engine, user="a"), Chat(engine, user="b")
    await alice.say("/start")
    await alice.press("Look up my student ID")
    await bob.say("2")
    assert "could not match that" in bob.text()


async def test_conversation_rows_count_one_per_chat(engine: Engine, services: Services) -> None:
    chat = Chat(engine, user="c")
    for _ in range(3):
        await chat.say("/start")
    async with services.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(ConversationState))
    assert count == 1


async def test_a_stored_state_the_flow_does_not_declare_starts_over_cleanly(
    chat: Chat, services: Services
) -> None:
    await chat.say("/start")
    await chat.press("Look up my student ID")
    async with services.sessions() as session, session.begin():
        row = await session.get(ConversationState, (chat.channel, chat.user))
        assert row is not None
        row.state = "renamed_in_an_upgrade"
        row.data = {"level": "master"}
    await chat.say("hello")
    assert "What can I help you with?" in chat.text()
    row = await _state(services, chat)
    assert (row.flow, row.state) == (None, None)
    assert "level" not in row.data


async def test_a_pooled_connection_the_server_dropped_is_replaced_within_the_turn(
    chat: Chat, services: Services
) -> None:
    # No pre-ping: a PostgreSQL restart leaves dead connections in the pool, and the
    # first turn after it must still be answered, not told the service is unavailable.
    if is_sqlite(services.engine):
        pytest.skip("a SQLite file has no server to drop the connection")
    await chat.say("/start")
    await chat.press("Look up my student ID")
    killer = create_engine(services.settings.sqlalchemy_url)
    try:
        async with killer.begin() as connection:
            dropped = await connection.scalar(
                sql(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await killer.dispose()
    assert dropped >= 1
    await chat.press("Master's programme")
    assert "national ID number" in chat.text()
    row = await _state(services, chat)
    assert (row.state, row.version) == ("id_number", 3)
