"""The app factory: the one ASGI app with the pages, the webhooks and the mail sender."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.adapters.base import Adapter
from bot.services import Services
from bot.web.card_verifier import CardVerifier
from bot.web.health import Health
from bot.web.metrics import Metrics
from bot.web.password_page import PasswordPage
from bot.web.security import (
    SECURITY_HEADERS,
    RequestGuard,
    configured_secrets,
    install_log_redaction,
)
from core import retention
from core.background import run_every
from core.directory.sync import sync
from core.heartbeats import MAIL_JOB, beating
from core.metrics import instrument_pool

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
MAIL_INTERVAL = 2.0  # seconds between rounds of the mail queue


async def sync_directory_index(services: Services) -> None:
    """One incremental sync of the LDAP or AD directory's index (``helpdesk directory sync``).

    Several processes may run it at once: the one that loses the race on a new entry
    leaves it to the winner. The directory is read with no transaction open, so chat
    turns go on while it answers (or times out).
    """
    directory = services.directories.remote
    if directory is None:
        return
    try:
        report = await sync(services.sessions, directory, services.pii, now=services.clock.now())
    except IntegrityError:
        log.info("directory sync: another process synced the same entries meanwhile")
        return
    if report.added or report.updated or report.removed:
        log.info(
            "directory sync: %d added, %d updated, %d removed",
            report.added,
            report.updated,
            report.removed,
        )


def create_app(
    services: Services,
    *,
    adapters: Sequence[Adapter] = (),
    mail_worker: bool = False,
) -> Starlette:
    """The ASGI app; with each adapter's routes, start, stop and background delivery."""
    install_log_redaction(*configured_secrets(services.settings))

    instrument_pool(services.engine)

    async def index(_request: Request) -> HTMLResponse:
        names = services.profile.display_name
        return HTMLResponse(
            INDEX.format(zh=html.escape(names.zh_TW), en=html.escape(names.en)),
            headers=SECURITY_HEADERS,
        )

    routes = [
        Route("/", index),
        *Health(services).routes(),
        *Metrics(services).routes(),
        *PasswordPage(services).routes(),
        *CardVerifier(services).routes(),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    for adapter in adapters:
        routes.extend(adapter.routes())

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        background: list[asyncio.Task[None]] = []
        if mail_worker:
            background.append(
                asyncio.create_task(
                    run_every(
                        MAIL_INTERVAL,
                        beating(
                            services.mail_worker.run_once,
                            services.sessions,
                            services.clock,
                            MAIL_JOB,
                        ),
                        name="mail sender",
                    )
                )
            )
            background.append(
                asyncio.create_task(
                    run_every(
                        retention.INTERVAL_SECONDS,
                        lambda: retention.apply(
                            services.sessions, services.clock.now(), services.profile.retention
                        ),
                        name="retention",
                    )
                )
            )
            if services.directories.remote is not None:  # LDAP or AD: keep its index fresh
                background.append(
                    asyncio.create_task(
                        run_every(
                            services.settings.directory_sync_minutes * 60,
                            lambda: sync_directory_index(services),
                            name="directory sync",
                        )
                    )
                )
        started: list[Adapter] = []
        try:
            for adapter in adapters:
                await adapter.startup()
                started.append(adapter)
                background.append(asyncio.create_task(adapter.run_background()))
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for adapter in reversed(started):
                await adapter.shutdown()

    https = services.settings.public_url.startswith("https://")
    return Starlette(
        routes=routes, lifespan=lifespan, middleware=[Middleware(RequestGuard, https=https)]
    )


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
