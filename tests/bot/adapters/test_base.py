"""The adapter protocol: Telegram and Slack are adapters, mountable by their routes alone."""

from __future__ import annotations

import json

import httpx
from starlette.applications import Starlette

from bot.adapters.base import Adapter
from bot.adapters.slack import SlackAdapter
from bot.adapters.telegram import SECRET_HEADER, TelegramAdapter
from bot.engine import Engine
from bot.services import build_services
from bot.types import Choice, Choices
from core.clock import FakeClock
from core.settings import Settings
from tests.platform_settings import with_slack, with_telegram
from tests.slack_stub import WebApiStub, event_callback, signed_headers
from tests.telegram_stub import BotApiStub

pytest_plugins = ["tests.telegram_fixtures", "tests.slack_fixtures"]


async def test_a_telegram_adapter_serves_its_webhook_from_its_own_routes(
    bot_api: BotApiStub, settings: Settings, clock: FakeClock
) -> None:
    configured = with_telegram(settings, bot_api)
    services = build_services(configured, clock=clock)
    adapter: Adapter = TelegramAdapter.build(services, Engine(services))
    assert isinstance(adapter, Adapter) and adapter.channel == "telegram"
    assert adapter.capabilities.deletes_user_messages
    await adapter.startup()
    try:
        app = Starlette(routes=adapter.routes())
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
        ) as client:
            message = {
                "message_id": 1,
                "date": 1_700_000_000,
                "chat": {"id": 5, "type": "private"},
                "from": {"id": 5, "is_bot": False, "first_name": "Mei", "language_code": "en"},
                "text": "/start",
            }
            response = await client.post(
                "/telegram/webhook",
                json={"update_id": 1, "message": message},
                headers={SECRET_HEADER: "s" * 24},
            )
    finally:
        await adapter.shutdown()
        await services.close()
    assert response.status_code == 200
    assert any("Demo University" in c["text"] for c in bot_api.calls_to("sendMessage"))


async def test_a_slack_adapter_is_an_adapter_that_cannot_delete_user_messages(
    slack_api: WebApiStub, settings: Settings, clock: FakeClock
) -> None:
    configured = with_slack(settings, slack_api)
    services = build_services(configured, clock=clock)
    adapter = SlackAdapter.build(services, Engine(services))
    try:
        assert isinstance(adapter, Adapter) and adapter.channel == "slack"
        assert not adapter.capabilities.deletes_user_messages
        app = Starlette(routes=adapter.routes())
        event = {"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "1.0"}
        body = json.dumps(event_callback(event, "Ev1")).encode()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://ours"
        ) as client:
            unsigned = await client.post("/slack/events", content=body)
            # Signed but for no listener: it reaches Bolt, which answers 404.
            signed = await client.post(
                "/slack/events", content=b"{}", headers=signed_headers("signing-secret", b"{}")
            )
        assert (unsigned.status_code, signed.status_code) == (401, 404)

        # More choices than one actions block holds: every one arrives as a button.
        many = tuple(Choice(f"Option {n}", f"n:{n}") for n in range(30))
        await adapter.send("D0USER", [Choices("Pick one", many)])
        (posted,) = slack_api.calls_to("chat.postMessage")
        labels = [
            element["text"]["text"]
            for block in posted["blocks"]
            if block["type"] == "actions"
            for element in block["elements"]
        ]
        assert labels == [f"Option {n}" for n in range(30)]
    finally:
        await services.close()
