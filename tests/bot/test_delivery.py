"""Background delivery on the job queue: a failing round backs off, old deliveries are purged."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from procrastinate.utils import utcnow
from sqlalchemy import func, select, update

from bot.delivery import BackgroundDelivery
from bot.engine import Engine
from bot.services import Services, build_services
from bot.types import Incoming, Reply, Text
from bot.web import create_app
from core.clock import FakeClock
from core.jobs import EmbeddedConnector
from core.models import Account, ChatIdentity, ProcessedDelivery
from core.notices import EXPIRY_REMINDER_DAYS
from core.settings import Settings
from tests.factories import add_lin


async def _nowhere(_chat_id: str, _replies: list[Reply]) -> None:
    raise AssertionError("nothing is due")


async def test_a_failing_round_is_logged_once_with_a_traceback_and_retried_with_backoff(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The database file's folder does not exist: every round fails to connect.
    missing = tmp_path / "gone" / "helpdesk.db"
    broken = build_services(
        settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{missing}"})
    )
    delivery = BackgroundDelivery(broken, "telegram", _nowhere)
    broken.jobs.every(1, "telegram.delivery", delivery.deliver)  # as schedule_deliveries does
    caplog.set_level(logging.INFO)
    failures = _records(caplog, "telegram.delivery failed")
    connector = broken.jobs.app.connector
    assert isinstance(connector, EmbeddedConnector)
    await broken.jobs.start()  # the embedded queue: its worker and deferrer in this process
    try:
        await _until(lambda: len(failures()) == 1 and _rounds(connector)[0]["attempts"] == 1)
        # The failed round waits for its retry; no new round is queued beside it (the
        # periodic deferrer offers one every second), so the database is not hammered.
        [waiting] = _rounds(connector)
        assert waiting["status"] == "todo"
        assert waiting["scheduled_at"] > utcnow() + dt.timedelta(seconds=1)
        await _until(lambda: len(failures()) == 2 and _rounds(connector)[0]["attempts"] == 2)
        [waiting] = _rounds(connector)
        assert waiting["scheduled_at"] > utcnow() + dt.timedelta(seconds=3)  # 4 s this time
    finally:
        await broken.close()
    # A traceback the first time, a line after that.
    assert [r.exc_info is not None for r in failures()] == [True, False]


async def test_forgetting_old_deliveries_is_a_job_of_the_queue(
    services: Services, engine: Engine, clock: FakeClock
) -> None:
    start = Incoming(channel="telegram", user_id="7", chat_id="7", text="/start")
    await engine.handle(replace(start, delivery_id="bot/1"))
    clock.advance(hours=24, seconds=1)
    await engine.handle(replace(start, delivery_id="bot/2"))

    app = create_app(services, mail_worker=True)  # schedules the background rounds
    jobs = services.jobs
    async with app.router.lifespan_context(app):
        # Its next round is minutes away: queue one now, as the deferrer would.
        await jobs.defer(jobs.app.tasks["deliveries.purge"], timestamp=0)
        async with asyncio.timeout(10):
            while await _count(services) != 1:  # noqa: ASYNC110 (polls the database)
                await asyncio.sleep(0.02)
    async with services.sessions() as session:
        assert (await session.scalars(select(ProcessedDelivery.delivery_id))).all() == ["bot/2"]


def _records(caplog: pytest.LogCaptureFixture, text: str) -> Callable[[], list[logging.LogRecord]]:
    return lambda: [r for r in caplog.records if text in r.getMessage()]


def _rounds(connector: EmbeddedConnector) -> list[dict[str, Any]]:
    return [job for job in connector.jobs.values() if job["task_name"] == "telegram.delivery"]


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):
        while not condition():  # noqa: ASYNC110 (the queue's state, polled)
            await asyncio.sleep(0.02)


async def test_a_password_about_to_expire_is_reminded_once_in_each_linked_chats_language(
    services: Services, clock: FakeClock
) -> None:
    person = await add_lin(
        services,
        with_account=True,
    )
    async with services.sessions() as session, session.begin():
        for user, locale in (("zh-user", "zh_TW"), ("en-user", "en")):
            session.add(
                ChatIdentity(
                    channel="telegram",
                    platform_user_id=user,
                    locale=locale,
                    person_id=person.id,
                    linked_at=clock.now(),
                    created_at=clock.now(),
                )
            )
    sent: list[tuple[str, str]] = []

    async def collect(chat_id: str, replies: list[Reply]) -> None:
        sent.extend((chat_id, reply.text) for reply in replies if isinstance(reply, Text))

    delivery = BackgroundDelivery(services, "telegram", collect)
    max_age = services.profile.password_policy.max_age_days
    assert max_age == 365
    clock.advance(days=max_age - EXPIRY_REMINDER_DAYS - 1)
    await delivery.run_once()
    assert sent == []  # not yet within the reminder days

    clock.advance(days=2)
    await delivery.run_once()
    expires = (clock.now() + dt.timedelta(days=13)).astimezone(services.profile.zone).date()
    assert sorted(sent) == [
        (
            "en-user",
            f"Reminder: the password of 211300001 expires on {expires}, in 13 days. Choose "
            '"Change my password" in the menu to set a new one before then.',
        ),
        (
            "zh-user",
            f"提醒您：211300001 的密碼將於 {expires} 到期（還有 13 天）。請在選單中選擇"
            "「變更密碼」，在到期前設定新密碼。",
        ),
    ]
    # Once: later rounds, and a later day, remind nobody again.
    sent.clear()
    clock.advance(days=1)
    await delivery.run_once()
    clock.advance(minutes=11)
    await delivery.run_once()
    assert sent == []

    # A new password that nears its own expiry is reminded again.
    async with services.sessions() as session, session.begin():
        await session.execute(update(Account).values(password_changed_at=clock.now()))
    clock.advance(days=max_age - 3)
    await delivery.run_once()
    assert [chat for chat, _ in sorted(sent)] == ["en-user", "zh-user"]
    assert "in 3 days" in sorted(sent)[0][1]


async def _count(services: Services) -> int:
    async with services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(ProcessedDelivery)) or 0)
