"""Background delivery: its loop backs off a failing database and purges old deliveries."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.delivery import BackgroundDelivery
from bot.engine import Engine
from bot.services import Services, build_services
from bot.types import Incoming, Reply, Text
from core.clock import FakeClock
from core.models import Account, ChatIdentity, ProcessedDelivery
from core.notices import EXPIRY_REMINDER_DAYS
from core.settings import Settings
from tests.factories import add_lin


async def _nowhere(_chat_id: str, _replies: list[Reply]) -> None:
    raise AssertionError("nothing is due")


async def test_a_failing_database_is_logged_once_with_a_traceback_and_backed_off(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The database file's folder does not exist: every round fails to connect.
    missing = tmp_path / "gone" / "helpdesk.db"
    broken = build_services(
        settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{missing}"})
    )
    delivery = BackgroundDelivery(broken, "telegram", _nowhere)
    caplog.set_level(logging.INFO)
    task = asyncio.create_task(delivery.run_forever(0.01, purge_interval=3600))
    await asyncio.sleep(0.6)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await broken.close()

    failures = [r for r in caplog.records if "telegram background delivery failed" in r.message]
    # Backoff (0.02, 0.04, 0.08 … s) allows about six rounds in 0.6 s; a fixed 0.01 s
    # interval would have failed some sixty times, each with a traceback.
    assert 1 <= len(failures) <= 10
    assert [r.exc_info is not None for r in failures].count(True) == 1


async def test_the_background_loop_forgets_deliveries_older_than_a_day(
    services: Services, engine: Engine, clock: FakeClock
) -> None:
    start = Incoming(channel="telegram", user_id="7", chat_id="7", text="/start")
    await engine.handle(replace(start, delivery_id="bot/1"))
    clock.advance(hours=24, seconds=1)
    await engine.handle(replace(start, delivery_id="bot/2"))

    async def ignore(_chat_id: str, _replies: list[Reply]) -> None:
        return None

    task = asyncio.create_task(
        BackgroundDelivery(services, "telegram", ignore).run_forever(3600, purge_interval=0.01)
    )
    try:
        async with asyncio.timeout(5):
            while await _count(services) != 1:  # noqa: ASYNC110 (polls the database)
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    async with services.sessions() as session:
        assert (await session.scalars(select(ProcessedDelivery.delivery_id))).all() == ["bot/2"]


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
