"""LINE end to end: real line-bot-sdk, our webhook, a stand-in Messaging API on loopback.

Every call the SDK makes is checked against LINE's OpenAPI document
(tests/data/line/messaging-api.yml); a violation fails the test (fixture ``line_api``).
Webhook bodies are checked against LINE's webhook document and signed as LINE signs
them (HMAC-SHA256 of the raw body under the channel secret, base64).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from openapi_core.testing import MockRequest
from PIL import Image as PILImage
from pydantic import SecretStr

from bot.adapters.line import LineAdapter
from bot.cli.line import install_rich_menus
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
from tests.line_stub import ACCESS_TOKEN, SPEC_HOST, LineApiStub, webhook_api
from tests.smtp import SmtpSink

pytest_plugins = ["tests.line_fixtures"]

SECRET = "line-channel-secret-0123456789"
BOT = "U" + "b" * 32
USER = "U" + "1" * 32
_ids = itertools.count(100_000)


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class LineUser:
    """A LINE user whose app makes LINE post events to our webhook."""

    def __init__(self, client: httpx.AsyncClient, stub: LineApiStub, *, lang: str = "en") -> None:
        self.client, self.stub = client, stub
        stub.languages[USER] = lang
        self.source: dict[str, str] = {"type": "user", "userId": USER}

    def event(self, kind: str, *, expired: bool = False, **fields: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "mode": "active",
            "timestamp": 1_764_500_000_000,
            "source": self.source,
            "webhookEventId": f"01JEVENT{next(_ids)}",
            "deliveryContext": {"isRedelivery": False},
            "replyToken": self.stub.reply_token(expired=expired),
            **fields,
        }

    def text_event(self, text: str, *, expired: bool = False) -> dict[str, Any]:
        message = {"id": str(next(_ids)), "type": "text", "quoteToken": "q", "text": text}
        return self.event("message", expired=expired, message=message)

    async def post(self, *events: dict[str, Any], secret: str = SECRET) -> httpx.Response:
        body = json.dumps({"destination": BOT, "events": list(events)}).encode()
        # What we send is what LINE sends: the webhook document's CallbackRequest.
        webhook_api().validate_request(
            MockRequest(SPEC_HOST, "post", "/callback", data=body, content_type="application/json")
        )
        return await self.client.post(
            "/line/webhook",
            content=body,
            headers={"X-Line-Signature": sign(body, secret), "Content-Type": "application/json"},
        )

    async def say(self, text: str, *, expired: bool = False) -> None:
        assert (await self.post(self.text_event(text, expired=expired))).status_code == 200

    def button(self, label: str) -> str:
        """The postback data of the newest quick reply whose full label is ``label``."""
        for message in reversed(self.stub.sent_messages()):
            for item in (message.get("quickReply") or {}).get("items", []):
                if item["action"].get("displayText") == label:
                    return str(item["action"]["data"])
        raise AssertionError(f"no quick reply {label!r}")

    async def press(self, label: str) -> None:
        event = self.event("postback", postback={"data": self.button(label)})
        assert (await self.post(event)).status_code == 200

    def texts(self) -> str:
        return self.stub.texts()


@pytest.fixture
async def line(
    line_api: LineApiStub, settings: Settings, clock: FakeClock
) -> AsyncIterator[tuple[LineUser, Services, SmtpSink, LineAdapter]]:
    with SmtpSink() as sink:
        configured = settings.model_copy(
            update={
                "line_channel_secret": SecretStr(SECRET),
                "line_channel_access_token": SecretStr(ACCESS_TOKEN),
                "line_api_url": line_api.base_url,
                "line_data_api_url": line_api.base_url,
                "public_url": "https://helpdesk.example.edu.tw",
                "smtp_host": "127.0.0.1",
                "smtp_port": sink.port,
            }
        )
        services = build_services(configured, clock=clock)
        adapter = LineAdapter.build(services, Engine(services))
        transport = httpx.ASGITransport(app=create_app(services, adapters=[adapter]))
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1"
            ) as client:
                yield LineUser(client, line_api), services, sink, adapter
        finally:
            await adapter.shutdown()
            await services.close()


async def test_id_lookup_in_english_by_quick_replies_and_reply_tokens(line: Any) -> None:
    user, services, _sink, _adapter = line
    await add_lin(services)
    await look_up_the_student_id(user, menu="menu")
    # Every answer went with its event's free reply token: nothing was pushed.
    assert user.stub.calls_to("/v2/bot/message/push") == []


async def test_id_lookup_in_chinese_for_a_chinese_line_app(line: Any) -> None:
    user, services, _sink, _adapter = line
    user.stub.languages[USER] = "zh-TW"
    await add_lin(services)
    await user.say("選單")
    assert "請問需要什麼協助？" in user.texts()
    await user.press("查詢學號")
    await user.press("碩士班")
    await user.say("F131104093")
    await user.say("850102")
    assert "您的學號是 211300001" in user.texts().replace("：", " ")


async def test_labels_too_long_for_a_quick_reply_are_numbered_and_a_typed_number_answers(
    line: Any,
) -> None:
    user, *_ = line
    await user.say("menu")
    menu = user.stub.sent_messages()[-1]
    labels = [i["action"]["label"] for i in menu["quickReply"]["items"]]
    assert all(len(label) <= 20 for label in labels)
    assert "6. Link this chat to my account" in menu["text"].splitlines()
    await user.say("6")
    assert "Which account is yours?" in user.stub.sent_messages()[-1]["text"]


async def test_forgot_password_link_arrives_by_smtp(line: Any) -> None:
    user, services, sink, _adapter = line
    await add_lin(services, with_account=True)
    await forget_the_password(user, services, sink, menu="menu")


async def test_a_pasted_password_is_answered_with_how_to_unsend_it(line: Any) -> None:
    user, *_ = line
    user.stub.languages[USER] = "zh-TW"
    await user.say("選單")
    await user.say("Tr0ub4dor&3x")
    assert "收回" in user.texts()


async def test_linking_and_mailbox_status(line: Any) -> None:
    user, services, sink, _adapter = line
    await add_lin(services, with_account=True)
    await link_with_the_mailed_code(
        user, services, sink, menu="menu", flow="My mailbox status", account=LIN_STUDENT_ID
    )
    assert "a211300001@grad.demo.edu.tw\nWorking normally." in user.texts()


async def test_the_card_is_an_image_by_url_that_expires_with_its_code(
    line: Any, clock: FakeClock
) -> None:
    user, services, sink, adapter = line
    person = await add_wang(services, with_account=True)
    await issue_electronic_card(services, person.id)
    await link_with_the_mailed_code(
        user, services, sink, menu="menu", flow="My alumni card", account=WANG_STUDENT_ID
    )
    (image,) = [m for m in user.stub.sent_messages() if m["type"] == "image"]
    url = image["originalContentUrl"]
    assert url.startswith("https://helpdesk.example.edu.tw/media/") and url.endswith(".png")
    assert "Wang" not in url and "109205003" not in url
    path = url.removeprefix("https://helpdesk.example.edu.tw")
    fetched = await user.client.get(path)
    assert fetched.status_code == 200 and fetched.content.startswith(b"\x89PNG")
    assert "Wang Da-Tong" in user.texts() and "Refresh now" in user.texts()
    # "Refresh now" answers with a new image by the free reply token.
    await user.press("Refresh now")
    assert len([m for m in user.stub.sent_messages() if m["type"] == "image"]) == 2
    # Past the code's step and the one after it, the image is gone.
    clock.advance(seconds=600)
    assert (await user.client.get(path)).status_code == 404
    # A background refresh is a push (the quota allows it here).
    await adapter.deliver_background()
    assert user.stub.calls_to("/v2/bot/message/push")


async def test_a_redelivered_event_is_handled_once(line: Any) -> None:
    user, *_ = line
    event = user.text_event("menu")
    assert (await user.post(event)).status_code == 200
    again = {**event, "deliveryContext": {"isRedelivery": True}}
    assert (await user.post(again)).status_code == 200
    assert user.texts().count("Hello!") == 1


async def test_a_bad_or_missing_signature_is_refused(line: Any) -> None:
    user, *_ = line
    assert (await user.post(user.text_event("menu"), secret="wrong")).status_code == 401
    missing = await user.client.post("/line/webhook", json={"destination": BOT, "events": []})
    assert missing.status_code == 400
    assert user.stub.calls == []


async def test_an_expired_reply_token_falls_back_to_push(line: Any) -> None:
    user, *_ = line
    await user.say("menu", expired=True)
    (push,) = user.stub.calls_to("/v2/bot/message/push")
    assert push["to"] == USER and "Hello!" in push["messages"][0]["text"]


async def test_with_the_quota_used_up_nothing_is_lost(line: Any) -> None:
    user, *_ = line
    user.stub.quota_limit = 0
    await user.say("menu", expired=True)  # no reply token left, and no pushes
    assert "Hello!" not in user.texts()
    await user.say("help")
    said = user.texts()
    assert "used up its messages for the month" in said
    assert said.index("used up") < said.index("Hello!") < said.index("/cancel")


async def test_a_rate_limited_call_is_retried(line: Any) -> None:
    user, *_ = line
    user.stub.fail_next(
        "/v2/bot/message/reply", 429, "The API rate limit has been exceeded. Try again later."
    )
    await user.say("menu")
    assert len(user.stub.calls_to("/v2/bot/message/reply")) == 2
    assert "Hello!" in user.texts()


async def test_a_group_chat_is_pointed_to_a_one_to_one_chat(line: Any) -> None:
    user, *_ = line
    user.source = {"type": "group", "groupId": "C" + "9" * 32, "userId": USER}
    await user.say("menu")
    # A group has no one user's language: Taiwan's is the default.
    assert "只在一對一聊天中提供" in user.texts()
    assert user.stub.calls_to(f"/v2/bot/profile/{USER}") == []


async def test_a_new_friend_is_greeted_with_the_menu(line: Any) -> None:
    user, *_ = line
    assert (await user.post(user.event("follow", follow={"isUnblocked": False}))).status_code == 200
    assert "What can I help you with?" in user.texts()


async def test_a_slow_step_shows_the_loading_animation(line: Any) -> None:
    user, _services, _sink, adapter = line
    adapter.loading_after = 0.0
    await user.say("menu")
    (loading,) = user.stub.calls_to("/v2/bot/chat/loading/start")
    assert loading["chatId"] == USER


async def test_a_rich_menu_tap_starts_its_flow(line: Any) -> None:
    user, *_ = line
    await user.post(user.event("postback", postback={"data": "m:student_id"}))
    assert "Master's programme" in str(user.stub.sent_messages()[-1])


async def test_the_rich_menus_are_built_from_the_catalogs_and_english_users_get_theirs(
    line: Any,
) -> None:
    user, *_rest, adapter = line
    created = await install_rich_menus(adapter)
    stub = user.stub
    zh, en = stub.rich_menus[created["zh_TW"]], stub.rich_menus[created["en"]]
    zh_labels = [area["action"]["displayText"] for area in zh["areas"]]
    assert "查詢學號" in zh_labels and "Look up my student ID" in [
        area["action"]["displayText"] for area in en["areas"]
    ]
    for menu_id in created.values():
        picture = PILImage.open(io.BytesIO(stub.images[menu_id]))
        assert picture.size == (2500, 1686)
    assert stub.default_menu == created["zh_TW"]
    await user.say("menu")  # this user's LINE speaks English
    assert stub.user_menus[USER] == created["en"]
    # A tap posts back into the flow the area shows.
    (area,) = [a for a in en["areas"] if a["action"]["displayText"] == "Look up my student ID"]
    await user.post(user.event("postback", postback={"data": area["action"]["data"]}))
    assert "Master's programme" in str(stub.sent_messages()[-1])
