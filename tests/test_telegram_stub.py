"""The Bot API stand-in catches what the published spec forbids, driven by the real PTB."""

from __future__ import annotations

import asyncio
import datetime as dtm
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto
from telegram.error import BadRequest, RetryAfter

from tests.telegram_stub import BotApiStub

pytest_plugins = ["tests.telegram_fixtures"]

TOKEN = "123:ABC"


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(buffer, "PNG")
    return buffer.getvalue()


def bot_for(stub: BotApiStub) -> Bot:
    return Bot(token=TOKEN, base_url=stub.base_url)


@pytest.fixture
async def lax_api() -> AsyncIterator[BotApiStub]:
    """A stub for tests that break the spec on purpose (they check ``violations`` themselves)."""
    async with BotApiStub.running() as stub:
        yield stub


async def raw_post(stub: BotApiStub, method: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.post(f"{stub.base_url}{TOKEN}/{method}", **kwargs)


async def test_send_message_passes_and_returns_a_message(bot_api: BotApiStub) -> None:
    async with bot_for(bot_api) as bot:
        first = await bot.send_message(chat_id=42, text="hello", disable_notification=True)
        second = await bot.send_message(chat_id=42, text="again")
        assert bot.username == "helpdesk_test_bot"

    assert first.chat.id == 42 and first.text == "hello"
    assert first.from_user is not None and first.from_user.id == 123
    assert second.message_id == first.message_id + 1
    assert bot_api.base_url.endswith("/bot")
    assert bot_api.calls_to("getMe") == [{}]
    sent = bot_api.calls_to("sendMessage")[0]
    assert sent == {"chat_id": 42, "text": "hello", "disable_notification": True}


async def test_send_photo_uploads_multipart(bot_api: BotApiStub) -> None:
    image = png()
    async with bot_for(bot_api) as bot:
        message = await bot.send_photo(chat_id=42, photo=image, caption="your QR code")

    assert message.photo and message.caption == "your QR code"
    [call] = bot_api.calls_to("sendPhoto")
    assert call["photo"]["size"] == len(image)
    assert call["chat_id"] == 42


async def test_edit_message_media_with_an_uploaded_photo(bot_api: BotApiStub) -> None:
    image = png()
    async with bot_for(bot_api) as bot:
        sent = await bot.send_message(chat_id=42, text="loading")
        edited = await bot.edit_message_media(
            chat_id=42, message_id=sent.message_id, media=InputMediaPhoto(image, caption="done")
        )

    assert not isinstance(edited, bool)
    assert edited.message_id == sent.message_id and edited.photo and edited.caption == "done"
    assert edited.text is None
    media = bot_api.calls_to("editMessageMedia")[0]["media"]
    assert media["type"] == "photo" and media["media"]["size"] == len(image)


async def test_inline_keyboard_and_callback_answer(bot_api: BotApiStub) -> None:
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Yes", callback_data="yes")],
            [InlineKeyboardButton("No", url="https://example.org")],
        ]
    )
    async with bot_for(bot_api) as bot:
        message = await bot.send_message(chat_id=42, text="Sure?", reply_markup=markup)
        assert await bot.answer_callback_query("query-1", text="ok")
        edited = await bot.edit_message_text("Done", chat_id=42, message_id=message.message_id)

    assert message.reply_markup is not None
    assert message.reply_markup.inline_keyboard[0][0].callback_data == "yes"
    assert not isinstance(edited, bool) and edited.reply_markup is None
    sent = bot_api.calls_to("sendMessage")[0]["reply_markup"]
    assert sent["inline_keyboard"][1][0] == {"text": "No", "url": "https://example.org"}


async def test_long_callback_data_is_refused(lax_api: BotApiStub) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="x" * 65)]])
    async with bot_for(lax_api) as bot:
        with pytest.raises(BadRequest, match="callback_data"):
            await bot.send_message(chat_id=42, text="Sure?", reply_markup=markup)
    assert len(lax_api.violations) == 1


@pytest.mark.parametrize("body", ["json", "data"])
async def test_missing_required_field_is_refused(lax_api: BotApiStub, body: str) -> None:
    response = await raw_post(lax_api, "sendMessage", **{body: {"text": "hi"}})

    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert "missing required field 'chat_id'" in response.json()["description"]
    assert len(lax_api.violations) == 1


async def test_unknown_method_is_refused_and_names_ignore_case(lax_api: BotApiStub) -> None:
    unknown = await raw_post(lax_api, "sendTelepathy", json={"chat_id": 42})
    known = await raw_post(lax_api, "SENDMESSAGE", json={"chat_id": 42, "text": "hi"})

    assert unknown.status_code == 400
    assert unknown.json()["description"].startswith("Not Found: method 'sendTelepathy'")
    assert known.status_code == 200 and known.json()["result"]["text"] == "hi"
    assert len(lax_api.violations) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"json": {"chat_id": [1, 2], "text": "hi"}}, "chat_id"),
        ({"json": {"chat_id": "42", "text": "hi", "disable_notification": "yes"}}, "disable"),
        ({"data": {"chat_id": "42", "text": "hi", "protect_content": "1"}}, "protect_content"),
        ({"json": {"chat_id": 42, "text": "hi", "colour": "red"}}, "unknown field 'colour'"),
    ],
)
async def test_wrong_types_and_unknown_fields_are_refused(
    lax_api: BotApiStub, kwargs: dict[str, Any], field: str
) -> None:
    response = await raw_post(lax_api, "sendMessage", **kwargs)

    assert response.status_code == 400
    assert field in response.json()["description"]
    assert len(lax_api.violations) == 1


async def test_attach_must_name_an_uploaded_part(lax_api: BotApiStub) -> None:
    media = '{"type": "photo", "media": "attach://missing"}'
    data = {"chat_id": "42", "message_id": "1", "media": media}
    files = {"other": ("a.png", png(), "image/png")}
    response = await raw_post(lax_api, "editMessageMedia", data=data, files=files)

    assert response.status_code == 400
    assert "attach://missing" in response.json()["description"]
    assert "'other'" in response.json()["description"]
    lax_api.violations.clear()


async def test_fail_next_surfaces_as_retry_after(
    bot_api: BotApiStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PTB 22 warns (an error here) when RetryAfter.retry_after is read as an int.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    bot_api.fail_next("sendMessage", error_code=429, retry_after=1)
    async with bot_for(bot_api) as bot:
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(chat_id=42, text="hello")
        again = await bot.send_message(chat_id=42, text="hello")

    assert caught.value.retry_after == dtm.timedelta(seconds=1)
    assert again.text == "hello"


def text_update(text: str) -> dict[str, Any]:
    user = {"id": 7, "is_bot": False, "first_name": "Alice"}
    chat = {"id": 7, "type": "private", "first_name": "Alice"}
    return {"message": {"message_id": 1, "date": 1, "chat": chat, "from": user, "text": text}}


async def test_get_updates_long_polls_and_confirms_by_offset(bot_api: BotApiStub) -> None:
    async with bot_for(bot_api) as bot:
        first = bot_api.push_update(text_update("hi"))
        [update] = await bot.get_updates(timeout=1)
        assert update.update_id == first["update_id"] and update.effective_message
        assert update.effective_message.text == "hi"
        assert await bot.get_updates(offset=update.update_id + 1, timeout=1) == ()

        waiting = asyncio.create_task(bot.get_updates(offset=update.update_id + 1, timeout=5))
        await asyncio.sleep(0.1)
        bot_api.push_update(text_update("later"))
        async with asyncio.timeout(5):
            [later] = await waiting
    assert later.effective_message and later.effective_message.text == "later"


def test_push_update_rejects_a_malformed_update() -> None:
    with pytest.raises(ValueError, match="chat"):
        BotApiStub().push_update({"message": {"message_id": 1, "date": 1, "text": "hi"}})


async def test_webhook_commands_and_deletion(bot_api: BotApiStub) -> None:
    async with bot_for(bot_api) as bot:
        assert await bot.set_webhook("https://helpdesk.example.edu/telegram", secret_token="s3")
        info = await bot.get_webhook_info()
        assert info.url == "https://helpdesk.example.edu/telegram"
        assert await bot.delete_webhook(drop_pending_updates=True)
        assert (await bot.get_webhook_info()).url == ""
        assert await bot.set_my_commands([("start", "Start over"), ("help", "Get help")])
        assert await bot.delete_message(chat_id=42, message_id=1)

    commands = bot_api.calls_to("setMyCommands")[0]["commands"]
    assert commands == [
        {"command": "start", "description": "Start over"},
        {"command": "help", "description": "Get help"},
    ]
