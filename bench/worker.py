"""A worker process, as ``helpdesk serve`` runs one, for the sections that need its own process.

``python -m bench.worker KIND DATABASE_URL API_URL PORT`` serves on 127.0.0.1:PORT:

- ``telegram``: our ASGI app with the Telegram adapter (webhook and background delivery),
  its overall rate limit lifted as in section 1;
- ``slack``: our ASGI app with the Slack adapter (``/slack/events``);
- ``bare-slack``: a bare slack-bolt ``AsyncApp`` that only acknowledges, at the same path.

It prints "ready" once it listens, and stops on SIGTERM or after a bounded time.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "true")

import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp
from telegram.ext import AIORateLimiter

from bench.common import SLACK_SIGNING_SECRET, settings_for
from bot import conversations  # noqa: F401  (registers the flows)
from bot.adapters.slack import SlackAdapter
from bot.adapters.telegram import TelegramAdapter
from bot.engine import Engine
from bot.services import build_services
from bot.web import create_app

MAX_SECONDS = 600.0


def bare_slack(api: str) -> ASGIApp:
    """slack-bolt with nothing but the ack: the floor for an events endpoint."""
    app = AsyncApp(
        client=AsyncWebClient(token="xoxb-bench-token", base_url=f"{api}/api/"),
        signing_secret=SLACK_SIGNING_SECRET,
        process_before_response=False,
    )

    @app.event("message")
    async def _ignore() -> None:
        return None

    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


def build(kind: str, database_url: str, api: str, home: Path) -> ASGIApp:
    if kind == "bare-slack":
        return bare_slack(api)
    settings = settings_for(
        database_url, home, telegram_api_url=f"{api}/bot", slack_api_url=f"{api}/api/"
    )
    services = build_services(settings)
    engine = Engine(services)
    if kind == "telegram":
        telegram = TelegramAdapter.build(services, engine)
        telegram.application.bot._rate_limiter = AIORateLimiter(overall_max_rate=0, max_retries=3)
        return create_app(services, adapters=[telegram])
    if kind == "slack":
        return create_app(services, adapters=[SlackAdapter.build(services, engine)])
    raise SystemExit(f"unknown worker kind {kind!r}")


async def main(kind: str, database_url: str, api: str, port: int) -> None:
    with tempfile.TemporaryDirectory(prefix="helpdesk-worker-") as home:
        app = build(kind, database_url, api, Path(home))
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        print("ready", flush=True)
        try:
            async with asyncio.timeout(MAX_SECONDS):
                await task
        except TimeoutError:
            server.should_exit = True


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
