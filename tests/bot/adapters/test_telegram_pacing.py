"""Telegram: a turn's reply never waits behind background messages (issue 19 §2).

Notices and card refreshes go out from the job queue's ``telegram.delivery`` round
through a client with a rate limiter of its own; a turn's reply goes out from the
webhook's request at once. Here the background limiter lets one message through and
holds the next for an hour: with the first notice at the stand-in and the second held,
a user's message is answered. Were the reply paced with the background messages (one
limiter for both), it would wait behind the held one and the test would time out.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr
from telegram.ext import AIORateLimiter

from bot.adapters.telegram import SECRET_HEADER, TelegramAdapter
from bot.engine import Engine
from bot.services import build_services
from bot.web import create_app
from core import jobs
from core.models import ChatNotice
from core.settings import Settings
from tests.telegram_stub import BotApiStub

pytest_plugins = ["tests.telegram_fixtures"]

SECRET = "webhook-secret-0123456789"
USER = 515151
_ids = itertools.count(1)


async def until(condition: Callable[[], bool], seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 (the stand-in records calls; no event to await)
            await asyncio.sleep(0.02)


async def test_a_reply_is_sent_while_the_background_limiter_holds_a_notice(
    bot_api: BotApiStub, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At the end the round still waits in the limiter: the worker stops without
    # waiting the usual 10 s for it (it is queued again, as a stopped worker's jobs are).
    monkeypatch.setattr(jobs, "STOP_SECONDS", 0.1)
    configured = settings.model_copy(
        update={
            "telegram_token": SecretStr("123456:TEST-token"),
            "telegram_secret": SecretStr(SECRET),
            "telegram_api_url": bot_api.base_url,
        }
    )
    services = build_services(configured)
    # One background message now, the next in an hour.
    held = AIORateLimiter(overall_max_rate=1, overall_time_period=3600, group_max_rate=0)
    adapter = TelegramAdapter.build(services, Engine(services), paced_limiter=held)
    now = services.clock.now()
    async with services.sessions() as session, session.begin():
        for chat in ("7001", "7002"):
            session.add(
                ChatNotice(channel="telegram", chat_id=chat, text=f"notice {chat}", created_at=now)
            )

    def sent_to(chat: int) -> list[str]:
        return [
            str(params.get("text"))
            for method, params in bot_api.calls
            if method == "sendMessage" and int(params["chat_id"]) == chat
        ]

    app = create_app(services, adapters=[adapter])
    try:
        # The lifespan starts the queue's worker: its telegram.delivery round sends the
        # first notice and waits in the paced client's limiter for the second.
        async with app.router.lifespan_context(app):
            await until(lambda: sent_to(7001) == ["notice 7001"])
            update = {
                "update_id": next(_ids),
                "message": {
                    "message_id": next(_ids),
                    "date": 1_700_000_000,
                    "chat": {"id": USER, "type": "private"},
                    "from": {
                        "id": USER,
                        "is_bot": False,
                        "first_name": "Ming",
                        "language_code": "en",
                    },
                    "text": "/start",
                },
            }
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as web:
                async with asyncio.timeout(30):
                    answer = await web.post(
                        "/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET}
                    )
            assert answer.status_code == 200
            # The greeting went out (the menu's buttons with it) ...
            assert "What can I help you with?" in sent_to(USER)
            # ... while the second notice still waits in the background's limiter.
            assert sent_to(7002) == []
    finally:
        await services.close()
