"""Telegram end to end: real python-telegram-bot, our webhook, a stand-in Bot API on loopback.

Every call the library makes is checked against the published Bot API description
(tests/data/telegram-bot-api-10.0.json); a violation fails the test (fixture ``bot_api``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.adapters.telegram import SECRET_HEADER, TelegramAdapter
from bot.engine import Engine
from bot.services import Services, build_services
from bot.web import create_app
from core.clock import FakeClock
from core.settings import Settings
from tests.e2e.stories import (
    forget_the_password,
    link_with_the_mailed_code,
    look_up_the_student_id,
)
from tests.factories import (
    LIN_STUDENT_ID,
    WANG_STUDENT_ID,
    add_lin,
    add_wang,
    issue_electronic_card,
)
from tests.smtp import SmtpSink
from tests.telegram_stub import BotApiStub

pytest_plugins = ["tests.telegram_fixtures"]

SECRET = "webhook-secret-0123456789"
USER = 424242
_ids = itertools.count(1000)


class TelegramUser:
    """A Telegram user whose app posts updates to our webhook (as Telegram would)."""

    def __init__(self, client: httpx.AsyncClient, stub: BotApiStub, *, lang: str = "en") -> None:
        self.client, self.stub, self.lang = client, stub, lang
        self.user = {"id": USER, "is_bot": False, "first_name": "Ming", "language_code": lang}
        self.chat = {"id": USER, "type": "private"}

    async def post(self, update: dict[str, Any], secret: str = SECRET) -> httpx.Response:
        return await self.client.post(
            "/telegram/webhook", json=update, headers={SECRET_HEADER: secret}
        )

    def message(self, text: str, chat: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "update_id": next(_ids),
            "message": {
                "message_id": next(_ids),
                "date": 1_700_000_000,
                "chat": chat or self.chat,
                "from": self.user,
                "text": text,
            },
        }

    async def say(self, text: str) -> None:
        assert (await self.post(self.message(text))).status_code == 200

    def button(self, label: str) -> str:
        """The callback data of the newest button labelled ``label`` the bot sent."""
        for _method, params in reversed(self.stub.calls):
            markup = params.get("reply_markup") or {}
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if button["text"] == label:
                        return str(button["callback_data"])
        raise AssertionError(f"no button {label!r}")

    async def press(self, label: str) -> None:
        update = {
            "update_id": next(_ids),
            "callback_query": {
                "id": str(next(_ids)),
                "from": self.user,
                "chat_instance": "ci",
                "data": self.button(label),
                "message": {
                    "message_id": 1,
                    "date": 1_700_000_000,
                    "chat": self.chat,
                    "text": "…",
                },
            },
        }
        assert (await self.post(update)).status_code == 200

    def texts(self) -> str:
        return "\n".join(
            str(p.get("text") or p.get("caption") or "")
            for m, p in self.stub.calls
            if m in ("sendMessage", "sendPhoto")
        )


@pytest.fixture
async def telegram(
    bot_api: BotApiStub, settings: Settings, clock: FakeClock
) -> AsyncIterator[tuple[TelegramUser, Services, SmtpSink, TelegramAdapter]]:
    with SmtpSink() as sink:
        configured = settings.model_copy(
            update={
                "telegram_token": SecretStr("123456:TEST-token"),
                "telegram_secret": SecretStr(SECRET),
                "telegram_api_url": bot_api.base_url,
                "smtp_host": "127.0.0.1",
                "smtp_port": sink.port,
            }
        )
        services = build_services(configured, clock=clock)
        adapter = TelegramAdapter.build(services, Engine(services))
        await adapter.application.initialize()
        transport = httpx.ASGITransport(app=create_app(services, adapters=[adapter]))
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1"
            ) as client:
                yield TelegramUser(client, bot_api), services, sink, adapter
        finally:
            await adapter.application.shutdown()
            await services.close()


async def test_id_lookup_through_the_webhook(telegram: Any) -> None:
    user, services, _sink, _adapter = telegram
    await add_lin(services)
    await look_up_the_student_id(user, menu="/start")
    presses = user.stub.calls_to("answerCallbackQuery")
    assert len(presses) == 2  # every press is answered


async def test_chinese_language_code_gets_chinese(telegram: Any) -> None:
    user, *_ = telegram
    user.user["language_code"] = "zh-hant"
    await user.say("/start")
    assert "請問需要什麼協助？" in user.texts()


async def test_forgot_password_link_arrives_by_smtp(telegram: Any) -> None:
    user, services, sink, _adapter = telegram
    await add_lin(services, with_account=True)
    await forget_the_password(user, services, sink, menu="/start")


async def test_a_pasted_password_is_deleted(telegram: Any) -> None:
    user, *_ = telegram
    await user.say("/start")
    await user.press("I forgot my password")
    await user.say("Tr0ub4dor&3x")
    (deleted,) = user.stub.calls_to("deleteMessage")
    assert deleted["chat_id"] == USER
    assert "Never send a password" in user.texts()


async def test_linking_and_mailbox_status(telegram: Any) -> None:
    user, services, sink, _adapter = telegram
    await add_lin(
        services,
        with_account=True,
    )
    await link_with_the_mailed_code(
        user, services, sink, menu="/start", flow="My mailbox status", account=LIN_STUDENT_ID
    )
    assert "a211300001@grad.demo.edu.tw\nWorking normally." in user.texts()


async def test_the_alumni_card_is_a_photo_refreshed_by_edit_message_media(
    telegram: Any, clock: FakeClock
) -> None:
    user, services, sink, adapter = telegram
    person = await add_wang(services, with_account=True)
    await issue_electronic_card(services, person.id)
    await link_with_the_mailed_code(
        user, services, sink, menu="/start", flow="My alumni card", account=WANG_STUDENT_ID
    )
    (photo,) = user.stub.calls_to("sendPhoto")
    assert "Wang Da-Tong" in photo["caption"] and photo["photo"]["size"] > 100
    await user.press("Refresh now")
    assert len(user.stub.calls_to("editMessageMedia")) == 1
    clock.advance(seconds=300)
    await adapter.deliver_background()
    edits = user.stub.calls_to("editMessageMedia")
    assert len(edits) == 2 and edits[-1]["message_id"] == edits[0]["message_id"]


async def test_the_same_update_three_times_is_handled_once(telegram: Any) -> None:
    user, *_ = telegram
    update = user.message("/start")
    for _ in range(3):
        assert (await user.post(update)).status_code == 200
    assert len([c for c in user.stub.calls_to("sendMessage") if "Hello" in c["text"]]) == 1


async def test_a_wrong_or_missing_secret_is_refused(telegram: Any) -> None:
    user, *_ = telegram
    assert (await user.post(user.message("/start"), secret="wrong")).status_code == 403
    missing = await user.client.post("/telegram/webhook", json=user.message("/start"))
    assert missing.status_code == 403
    assert user.stub.calls_to("sendMessage") == []


async def test_a_429_is_retried_after_its_delay(telegram: Any) -> None:
    user, *_ = telegram
    user.stub.fail_next("sendMessage", error_code=429, retry_after=1)
    started = dt.datetime.now(dt.UTC)
    await user.say("/start")
    waited = dt.datetime.now(dt.UTC) - started
    assert "Demo University" in user.texts()
    assert waited >= dt.timedelta(seconds=1)


async def test_group_chats_are_told_to_message_directly(telegram: Any) -> None:
    user, *_ = telegram
    group = {"id": -100123, "type": "supergroup", "title": "Class"}
    assert (await user.post(user.message("/start", chat=group))).status_code == 200
    (sent,) = user.stub.calls_to("sendMessage")
    assert sent["chat_id"] == -100123 and "direct message" in sent["text"]


async def test_a_new_bot_whose_update_ids_start_over_still_answers(
    telegram: Any, bot_api: BotApiStub
) -> None:
    user, services, _sink, _adapter = telegram
    update = user.message("/start")
    await user.post(update)
    # Same database, a new bot (another token): Telegram numbers its updates afresh.
    renewed = services.settings.model_copy(update={"telegram_token": SecretStr("654321:NEW-token")})
    new_services = build_services(renewed, clock=services.clock)
    new_bot = TelegramAdapter.build(new_services, Engine(new_services))
    await new_bot.application.initialize()
    try:
        app = create_app(new_services, adapters=[new_bot])
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
        ) as client:
            again = await client.post(
                "/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET}
            )
    finally:
        await new_bot.application.shutdown()
        await new_services.close()
    assert again.status_code == 200
    greetings = [c for c in bot_api.calls_to("sendMessage") if "Hello" in c["text"]]
    assert len(greetings) == 2


async def test_polling_never_logs_the_bot_token(
    bot_api: BotApiStub, settings: Settings, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    token = "123456:SECRET-polling-token"
    configured = settings.model_copy(
        update={"telegram_token": SecretStr(token), "telegram_api_url": bot_api.base_url}
    )
    services = build_services(configured, clock=clock)
    adapter = TelegramAdapter.build(services, Engine(services), polling=True)
    caplog.set_level(logging.DEBUG)
    user = {"id": USER, "is_bot": False, "first_name": "Ming", "language_code": "en"}
    try:
        async with adapter.application as application:
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0, timeout=1)
            bot_api.push_update(
                {
                    "message": {
                        "message_id": 1,
                        "date": 1_700_000_000,
                        "chat": {"id": USER, "type": "private"},
                        "from": user,
                        "text": "/start",
                    }
                }
            )
            async with asyncio.timeout(10):
                while not bot_api.calls_to("sendMessage"):  # noqa: ASYNC110 (stub records)
                    await asyncio.sleep(0.05)
            await application.updater.stop()
            await application.stop()
    finally:
        await services.close()
    assert len(bot_api.calls_to("getUpdates")) >= 1
    logged = [record.getMessage() for record in caplog.records]
    assert logged and not [line for line in logged if token in line or "SECRET-polling" in line]


async def _chunks(sent: list[int], size: int, count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        sent.append(size)
        yield b"x" * size


async def test_an_oversized_update_gets_413_before_it_is_read_whole(telegram: Any) -> None:
    user, *_ = telegram
    sent: list[int] = []
    response = await user.client.post(
        "/telegram/webhook",
        content=_chunks(sent, 64 * 1024, 64),
        headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert sum(sent) <= (1 << 20) + 64 * 1024 < 64 * 64 * 1024


async def test_an_update_that_does_not_parse_gets_400_without_a_traceback(
    telegram: Any, caplog: pytest.LogCaptureFixture
) -> None:
    user, *_ = telegram
    statuses = [
        (
            await user.client.post(
                "/telegram/webhook", content=body, headers={SECRET_HEADER: SECRET}
            )
        ).status_code
        for body in (b'{"update_id": ', b"[" * 100_000, b"[1, 2]", b'"text"')
    ]
    assert statuses == [400] * 4
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert user.stub.calls_to("sendMessage") == []
