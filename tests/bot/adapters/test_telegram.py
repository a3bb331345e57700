"""Telegram updates to Incoming: the bot's identity in the delivery, the app's language."""

from __future__ import annotations

from typing import Any

from telegram import Update

from bot.adapters.telegram import bot_id, to_incoming
from core.deliveries import delivery_key

USER = {"id": 42, "is_bot": False, "first_name": "Mei", "language_code": "zh-hant"}
PRIVATE = {"id": 42, "type": "private"}


def _update(**fields: Any) -> Update:
    return Update.de_json({"update_id": 7, **fields}, None)


def test_a_message_carries_the_app_language_and_a_delivery_of_this_bot() -> None:
    message = {"message_id": 3, "date": 0, "chat": PRIVATE, "from": USER, "text": "/start"}
    incoming = to_incoming(_update(message=message), "111")
    assert incoming is not None
    assert incoming.locale_hint == "zh-hant"
    assert (incoming.user_id, incoming.chat_id, incoming.text) == ("42", "42", "/start")
    assert incoming.message_id == "3" and incoming.private
    assert incoming.delivery_id == delivery_key("111", "7") != delivery_key("222", "7")


def test_a_button_press_carries_the_app_language_too() -> None:
    query = {
        "id": "q1",
        "from": USER | {"language_code": "en"},
        "chat_instance": "ci",
        "data": "n1:flow:x",
        "message": {"message_id": 3, "date": 0, "chat": PRIVATE, "text": "…"},
    }
    incoming = to_incoming(_update(callback_query=query), "111")
    assert incoming is not None
    assert incoming.locale_hint == "en" and incoming.action == "n1:flow:x"


def test_a_sticker_is_empty_text_and_an_edit_is_ignored() -> None:
    sticker = {"message_id": 4, "date": 0, "chat": PRIVATE, "from": USER}
    incoming = to_incoming(_update(message=sticker), "111")
    assert incoming is not None and incoming.text == ""
    assert to_incoming(_update(edited_message=sticker | {"edit_date": 1}), "111") is None


def test_the_bot_id_is_the_token_prefix() -> None:
    assert bot_id("123456:ABC-def") == "123456"
