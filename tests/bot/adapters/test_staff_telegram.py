"""The staff Telegram group: real python-telegram-bot against the Bot API stand-in.

Cases are posted to the group with Claim and Close, a staff reply to the case's message
reaches the user's chat, the user's messages go under the case, and the buttons act.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.adapters.telegram import SECRET_HEADER, TelegramAdapter
from bot.engine import Engine
from bot.services import Services, build_services
from bot.web import create_app
from core.clock import FakeClock
from core.models import Case, CaseStatus
from core.settings import Settings
from tests.e2e.test_telegram import TelegramUser
from tests.platform_settings import with_telegram
from tests.telegram_stub import BotApiStub

pytest_plugins = ["tests.telegram_fixtures"]

SECRET = "webhook-secret-0123456789"
GROUP = -1001234567890
STAFF = {"id": 777, "is_bot": False, "first_name": "Desk", "language_code": "zh-hant"}
_ids = itertools.count(50_000)


@pytest.fixture
async def group(
    bot_api: BotApiStub, settings: Settings, clock: FakeClock
) -> AsyncIterator[tuple[TelegramUser, Services, TelegramAdapter]]:
    configured = with_telegram(settings, bot_api, secret=SECRET)
    services = build_services(configured, clock=clock)
    handoff = services.profile.handoff.model_copy(update={"telegram_group": GROUP})
    services.profile = services.profile.model_copy(update={"handoff": handoff})
    adapter = TelegramAdapter.build(services, Engine(services))
    await adapter.application.initialize()
    transport = httpx.ASGITransport(app=create_app(services, adapters=[adapter]))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            yield TelegramUser(client, bot_api, lang="en"), services, adapter
    finally:
        await adapter.application.shutdown()
        await services.close()


def group_messages(stub: BotApiStub) -> list[dict[str, Any]]:
    return [p for m, p in stub.calls if m == "sendMessage" and p["chat_id"] == GROUP]


async def staff_update(user: TelegramUser, body: dict[str, Any]) -> None:
    update = {"update_id": next(_ids), **body}
    response = await user.client.post(
        "/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET}
    )
    assert response.status_code == 200


def group_message(message_id: int) -> dict[str, Any]:
    chat = {"id": GROUP, "type": "supergroup", "title": "Help desk"}
    return {"message_id": message_id, "date": 1_700_000_000, "chat": chat, "text": "…"}


async def test_staff_in_the_telegram_group_claim_answer_and_close_a_case(group: Any) -> None:
    user, services, adapter = group
    await user.say("/menu")
    await user.press("Talk to a person")
    await user.say("The printer quota is wrong")
    await adapter.deliver_background()
    [post] = group_messages(user.stub)
    assert "The printer quota is wrong" in post["text"]
    labels = [b["text"] for row in post["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Claim", "Close"]
    async with services.sessions() as session:
        posted = await session.scalar(select(Case.staff_posts))
    root = posted["telegram"]["message_id"]

    claim = next(b for b in post["reply_markup"]["inline_keyboard"][0] if b["text"] == "Claim")
    await staff_update(
        user,
        {
            "callback_query": {
                "id": "cq1",
                "from": STAFF,
                "chat_instance": "staff",
                "data": claim["callback_data"],
                "message": group_message(root),
            }
        },
    )
    edits = user.stub.calls_to("editMessageText")
    assert edits and "Claimed by: telegram:777" in edits[-1]["text"]

    reply = {
        "message_id": next(_ids),
        "date": 1_700_000_000,
        "chat": {"id": GROUP, "type": "supergroup", "title": "Help desk"},
        "from": STAFF,
        "text": "Fixed: your quota is back to 500 pages.",
        "reply_to_message": group_message(root),
    }
    await staff_update(user, {"message": reply})
    await adapter.deliver_background()
    assert "Fixed: your quota is back to 500 pages." in user.texts()

    await user.say("thanks!")
    await adapter.deliver_background()
    under_case = [p for p in group_messages(user.stub) if p.get("reply_parameters")]
    assert under_case[-1]["text"] == "User: thanks!"
    assert under_case[-1]["reply_parameters"]["message_id"] == root

    close = {"callback_query": {"id": "cq2", "from": STAFF, "chat_instance": "staff"}}
    close["callback_query"] |= {"data": "case:close:1", "message": group_message(root)}
    await staff_update(user, close)
    await adapter.deliver_background()
    assert "The help desk closed case #1" in user.texts()
    async with services.sessions() as session:
        case = await session.scalar(select(Case))
    assert case is not None and case.status == CaseStatus.CLOSED
