"""Redelivery: an update or event delivered again, even at the same moment, is handled once.

tests/e2e/test_telegram.py and test_slack.py post a message update (or event) again
after the first was handled. Here the copies arrive together, as they do when a
platform retries a slow webhook while several workers serve it: the same update is
posted five times at once over two webhook workers (each with its own engine and
connection pool). For Telegram both a message and a button press (callback query);
for Slack an event and its retries (X-Slack-Retry-Num). Slack does not resend
interactivity payloads, and the console has no deliveries to repeat. Below the
adapters, the same delivery id handed to five engines at once is processed once for
every channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.adapters.slack import SlackAdapter
from bot.adapters.telegram import SECRET_HEADER, TelegramAdapter
from bot.engine import Engine
from bot.services import Services, build_services
from bot.types import Choices, Incoming, Text
from bot.web import create_app
from core.clock import FakeClock
from core.deliveries import delivery_key
from core.models import ConversationState, ProcessedDelivery
from core.settings import Settings
from tests.slack_stub import APP_ID, TEAM_ID, WebApiStub, event_callback, signed_headers
from tests.telegram_stub import BotApiStub

pytest_plugins = ["tests.telegram_fixtures", "tests.slack_fixtures"]

COPIES = 5
WORKERS = 2
TELEGRAM_SECRET = "webhook-secret-0123456789"
SLACK_SECRET = "slack-signing-secret-0123456789"
TELEGRAM_USER = 515151
SLACK_USER, SLACK_DM = "U0REDELIVER", "D0REDELIVER"
_ids = itertools.count(7000)


@dataclass
class Worker:
    """One webhook worker: its own services (pool), engine, adapter and HTTP client."""

    services: Services
    client: httpx.AsyncClient


async def _conversation(services: Services, channel: str, chat_id: str) -> ConversationState:
    async with services.sessions() as session:
        row = await session.get(ConversationState, (channel, chat_id))
        assert row is not None
        return row


async def _claimed(services: Services, channel: str, delivery_id: str) -> int:
    async with services.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(ProcessedDelivery)
            .where(
                ProcessedDelivery.channel == channel, ProcessedDelivery.delivery_id == delivery_id
            )
        )
    return int(count or 0)


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 (the stub records calls; no event to await)
            await asyncio.sleep(0.02)


# -- Telegram -----------------------------------------------------------------------------


@pytest.fixture
async def telegram_workers(
    bot_api: BotApiStub, settings: Settings, clock: FakeClock
) -> AsyncIterator[list[Worker]]:
    configured = settings.model_copy(
        update={
            "telegram_token": SecretStr("123456:TEST-token"),
            "telegram_secret": SecretStr(TELEGRAM_SECRET),
            "telegram_api_url": bot_api.base_url,
        }
    )
    async with contextlib.AsyncExitStack() as stack:
        workers = []
        for _ in range(WORKERS):
            services = build_services(configured, clock=clock)
            stack.push_async_callback(services.close)
            adapter = TelegramAdapter.build(services, Engine(services))
            await adapter.application.initialize()
            stack.push_async_callback(adapter.application.shutdown)
            transport = httpx.ASGITransport(app=create_app(services, adapters=[adapter]))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
            )
            workers.append(Worker(services, client))
        yield workers


def _telegram_message(text: str) -> dict[str, Any]:
    user = {"id": TELEGRAM_USER, "is_bot": False, "first_name": "Mei", "language_code": "en"}
    return {
        "update_id": next(_ids),
        "message": {
            "message_id": next(_ids),
            "date": 1_700_000_000,
            "chat": {"id": TELEGRAM_USER, "type": "private"},
            "from": user,
            "text": text,
        },
    }


def _telegram_press(data: str) -> dict[str, Any]:
    user = {"id": TELEGRAM_USER, "is_bot": False, "first_name": "Mei", "language_code": "en"}
    return {
        "update_id": next(_ids),
        "callback_query": {
            "id": str(next(_ids)),
            "from": user,
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": 1,
                "date": 1_700_000_000,
                "chat": {"id": TELEGRAM_USER, "type": "private"},
                "text": "…",
            },
        },
    }


def _telegram_button(stub: BotApiStub, label: str) -> str:
    for params in reversed(stub.calls_to("sendMessage")):
        for row in (params.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if button["text"] == label:
                    return str(button["callback_data"])
    raise AssertionError(f"no button {label!r}")


async def _post_together(workers: list[Worker], update: dict[str, Any]) -> list[int]:
    responses = await asyncio.gather(
        *(
            workers[n % WORKERS].client.post(
                "/telegram/webhook", json=update, headers={SECRET_HEADER: TELEGRAM_SECRET}
            )
            for n in range(COPIES)
        )
    )
    return [response.status_code for response in responses]


async def test_a_telegram_update_posted_five_times_at_once_to_two_workers_is_handled_once(
    telegram_workers: list[Worker], bot_api: BotApiStub
) -> None:
    services = telegram_workers[0].services
    start = _telegram_message("/start")
    assert await _post_together(telegram_workers, start) == [200] * COPIES
    greetings = [c for c in bot_api.calls_to("sendMessage") if "Hello" in c["text"]]
    assert len(greetings) == 1
    assert (
        await _claimed(services, "telegram", delivery_key("123456", str(start["update_id"]))) == 1
    )
    assert (await _conversation(services, "telegram", str(TELEGRAM_USER))).version == 1

    # A button press (callback query) redelivered the same way moves the flow one step.
    sent = len(bot_api.calls_to("sendMessage"))
    press = _telegram_press(_telegram_button(bot_api, "Look up my student ID"))
    assert await _post_together(telegram_workers, press) == [200] * COPIES
    replies = bot_api.calls_to("sendMessage")[sent:]
    assert [r["text"] for r in replies] == ["Which degree programme were you admitted to?"]
    assert "no longer works" not in json.dumps(replies)
    state = await _conversation(services, "telegram", str(TELEGRAM_USER))
    assert (state.flow, state.state, state.version) == ("student_id", "level", 2)
    assert (
        await _claimed(services, "telegram", delivery_key("123456", str(press["update_id"]))) == 1
    )


# -- Slack --------------------------------------------------------------------------------


@pytest.fixture
async def slack_workers(
    slack_api: WebApiStub, settings: Settings, clock: FakeClock
) -> AsyncIterator[list[Worker]]:
    configured = settings.model_copy(
        update={
            "slack_bot_token": SecretStr("xoxb-test-token"),
            "slack_signing_secret": SecretStr(SLACK_SECRET),
            "slack_api_url": slack_api.base_url,
        }
    )
    async with contextlib.AsyncExitStack() as stack:
        workers = []
        for _ in range(WORKERS):
            services = build_services(configured, clock=clock)
            stack.push_async_callback(services.close)
            adapter = SlackAdapter.build(services, Engine(services))
            await adapter.startup()  # the job queue and its worker (httpx runs no lifespan)
            stack.push_async_callback(adapter.shutdown)
            transport = httpx.ASGITransport(app=create_app(services, adapters=[adapter]))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://ours")
            )
            workers.append(Worker(services, client))
        yield workers


async def test_a_slack_event_and_its_retries_arriving_at_once_on_two_workers_are_handled_once(
    slack_workers: list[Worker], slack_api: WebApiStub
) -> None:
    services = slack_workers[0].services
    event_id = f"EvRedeliver{next(_ids)}"
    event = {
        "type": "message",
        "channel": SLACK_DM,
        "channel_type": "im",
        "user": SLACK_USER,
        "text": "menu",
        "ts": "1700000000.000100",
    }
    body = json.dumps(event_callback(event, event_id)).encode()

    def headers(retry: int) -> dict[str, str]:
        signed = {"Content-Type": "application/json", **signed_headers(SLACK_SECRET, body)}
        if retry:
            signed |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return signed

    responses = await asyncio.gather(
        *(
            slack_workers[retry % WORKERS].client.post(
                "/slack/events", content=body, headers=headers(retry)
            )
            for retry in range(COPIES)
        )
    )
    assert [r.status_code for r in responses] == [200] * COPIES

    def greetings() -> int:
        return sum(
            "Demo University" in str(p.get("text")) for p in slack_api.calls_to("chat.postMessage")
        )

    await _until(lambda: greetings() >= 1)
    await asyncio.sleep(0.3)  # Bolt works after the ack: let any duplicate surface
    posted = [str(p.get("text")) for p in slack_api.calls_to("chat.postMessage")]
    assert greetings() == 1
    assert len(posted) == 2, posted  # the greeting and the menu; nothing else, no error
    assert posted[1] == "What can I help you with?"
    assert await _claimed(services, "slack", delivery_key(f"{APP_ID}:{TEAM_ID}", event_id)) == 1
    assert (await _conversation(services, "slack", SLACK_DM)).version == 1


# -- below the adapters -------------------------------------------------------------------


@pytest.fixture
async def engines(settings: Settings, clock: FakeClock) -> AsyncIterator[list[Engine]]:
    built = [build_services(settings, clock=clock) for _ in range(COPIES)]
    try:
        yield [Engine(services) for services in built]
    finally:
        for services in built:
            await services.close()


@pytest.mark.parametrize("channel", ["telegram", "slack", "console"])
async def test_one_delivery_handed_to_five_engines_at_once_is_processed_exactly_once(
    engines: list[Engine], channel: str
) -> None:
    services = engines[0].services
    incoming = Incoming(
        channel=channel,
        user_id="same-user",
        chat_id="same-chat",
        text="/start",
        locale_hint="en",
        delivery_id=f"{channel}-delivery-1",
    )
    async with asyncio.timeout(20):
        answers = await asyncio.gather(*(engine.handle(incoming) for engine in engines))

    processed = [replies for replies in answers if replies]
    assert len(processed) == 1, answers
    assert sum(isinstance(r, Text) and "Demo University" in r.text for r in processed[0]) == 1
    assert any(isinstance(r, Choices) for r in processed[0])
    assert await _claimed(services, channel, incoming.delivery_id or "") == 1
    assert (await _conversation(services, channel, "same-chat")).version == 1
