"""The project's one ASGI app: health check now; reset pages and webhooks mount here."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.adapters.slack import SlackAdapter
from bot.adapters.telegram import TelegramAdapter
from bot.card_verifier import CardVerifier
from bot.password_page import PasswordPage
from bot.services import Services

STATIC = Path(__file__).parent / "static"


TOKEN_IN_PATH = re.compile(r"(/password/)[^/\s?\"]+")


class RedactTokens(logging.Filter):
    """Hide one-time tokens in logged request lines (uvicorn's access log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(a) for a in record.args)
        record.msg = TOKEN_IN_PATH.sub(r"\1[redacted]", str(record.msg))
        return True


def _redacted(arg: object) -> object:
    """The argument with any token hidden; an object (httpx logs a URL) becomes its text."""
    if isinstance(arg, int | float):
        return arg  # may be formatted with %d
    text = arg if isinstance(arg, str) else str(arg)
    redacted = TOKEN_IN_PATH.sub(r"\1[redacted]", text)
    return redacted if redacted != text else arg


def install_log_redaction() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "httpx"):
        logging.getLogger(name).addFilter(RedactTokens())


def create_app(
    services: Services,
    *,
    telegram: TelegramAdapter | None = None,
    slack: SlackAdapter | None = None,
    mail_worker: bool = False,
) -> Starlette:
    """The ASGI app; with a Telegram adapter, its webhook and background delivery too."""

    async def healthz(_request: Request) -> JSONResponse:
        try:
            async with services.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (OperationalError, DBAPIError, OSError):
            return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "profile": services.profile.name})

    async def index(_request: Request) -> HTMLResponse:
        names = services.profile.display_name
        return HTMLResponse(
            INDEX.format(zh=html.escape(names.zh_TW), en=html.escape(names.en)),
            headers={"Referrer-Policy": "no-referrer"},
        )

    routes = [
        Route("/", index),
        Route("/healthz", healthz),
        *PasswordPage(services).routes(),
        *CardVerifier(services).routes(),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    if telegram is not None:
        routes.append(Route("/telegram/webhook", telegram.webhook, methods=["POST"]))
    if slack is not None:
        routes.append(Route("/slack/events", slack.events, methods=["POST"]))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        background: list[asyncio.Task[None]] = []
        if mail_worker:
            background.append(asyncio.create_task(_send_mail_forever(services)))
        if telegram is not None:
            await telegram.application.initialize()
            background.append(asyncio.create_task(telegram.run_background()))
        if slack is not None:
            background.append(asyncio.create_task(slack.run_background()))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if telegram is not None:
                await telegram.application.shutdown()

    return Starlette(routes=routes, lifespan=lifespan)


async def _send_mail_forever(services: Services, interval: float = 2.0) -> None:
    """The mail queue's sender, beside the web app (each row claimed by one worker)."""
    while True:
        try:
            await services.mail_worker.run_once()
        except Exception:  # the queue keeps the mail; try again next round
            logging.getLogger(__name__).exception("mail worker round failed")
        await asyncio.sleep(interval)


INDEX = """<!doctype html>
<html lang="zh-Hant-TW"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{zh} 帳號服務 / {en} account helpdesk</title></head>
<body><main>
<h1>{zh} 帳號服務</h1>
<p>請在聊天中使用帳號服務：查詢學號、忘記密碼、信箱狀態、數位校友證。</p>
<h1 lang="en">{en} account helpdesk</h1>
<p lang="en">Use the account services in chat: student ID lookup, forgotten passwords,
mailbox status, the digital alumni card.</p>
</main></body></html>
"""
