"""The app factory: the one ASGI app with the pages, the webhooks and the background rounds."""

from __future__ import annotations

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
from bot.delivery import DELIVERY_SECONDS, purge_deliveries, queue_reminders
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
from core.deliveries import PURGE_INTERVAL_SECONDS
from core.directory.sync import sync
from core.heartbeats import MAIL_JOB, beating
from core.metrics import instrument_pool

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
MAIL_INTERVAL = 2.0  # seconds between rounds of the mail queue
REMINDER_INTERVAL = 600.0  # reminders before a password expires are due by the day


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


def schedule_deliveries(services: Services, adapters: Sequence[Adapter]) -> None:
    """Each adapter's notices and card refreshes: ``<channel>.delivery`` every second."""
    for adapter in adapters:
        services.jobs.every(
            DELIVERY_SECONDS, f"{adapter.channel}.delivery", adapter.deliver_background
        )


def schedule_background(services: Services) -> None:
    """The rounds that are no platform's, as periodic jobs of the process's job queue.

    The mail queue (its heartbeat for ``/readyz``), retention, the reminders before a
    password expires, forgetting old processed deliveries and, on LDAP or AD, the
    directory index's sync: each runs once across all the workers that schedule it
    (core/jobs.py), retried with backoff when it fails.
    """
    jobs = services.jobs
    jobs.every(
        MAIL_INTERVAL,
        "mail.send",
        beating(services.mail_worker.run_once, services.sessions, services.clock, MAIL_JOB),
    )

    async def apply_retention() -> None:
        await retention.apply(services.sessions, services.clock.now(), services.profile.retention)

    async def reminders() -> None:
        await queue_reminders(services)

    async def purge() -> None:
        await purge_deliveries(services)

    jobs.every(retention.INTERVAL_SECONDS, "retention", apply_retention)
    jobs.every(REMINDER_INTERVAL, "notices.reminders", reminders)
    jobs.every(PURGE_INTERVAL_SECONDS, "deliveries.purge", purge)
    if services.directories.remote is not None:  # LDAP or AD: keep its index fresh

        async def directory_sync() -> None:
            await sync_directory_index(services)

        jobs.every(services.settings.directory_sync_minutes * 60, "directory.sync", directory_sync)


def create_app(
    services: Services,
    *,
    adapters: Sequence[Adapter] = (),
    mail_worker: bool = False,
) -> Starlette:
    """The ASGI app; with each adapter's routes, start and stop, and the process's job queue.

    Its lifespan schedules each adapter's delivery (``schedule_deliveries``) and, with
    ``mail_worker``, the background rounds (``schedule_background``), then starts the
    adapters and the queue's worker (unless ``job_worker`` is ``separate``).
    """
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
        # Scheduled before any adapter starts (Slack's start opens the queue too).
        if mail_worker:
            schedule_background(services)
        schedule_deliveries(services, adapters)
        started: list[Adapter] = []
        try:
            for adapter in adapters:
                await adapter.startup()
                started.append(adapter)
            # The queue's worker runs the rounds scheduled above once the adapters can
            # send; with ``job_worker = separate`` this process runs none (and opens the
            # queue only if an adapter queues work: Slack's start does).
            if services.jobs.runs_worker:
                await services.jobs.start()
            yield
        finally:
            await services.jobs.stop()
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
