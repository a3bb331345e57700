"""Processed deliveries: keyed by the receiving bot, forgotten after every retry period."""

from __future__ import annotations

from sqlalchemy import select

from bot.engine import Engine
from bot.services import Services
from bot.types import Incoming
from core.clock import FakeClock
from core.deliveries import MAX_KEY_LENGTH, RETENTION, delivery_key, purge_expired
from core.models import ProcessedDelivery


def _start(delivery_id: str) -> Incoming:
    return Incoming(
        channel="telegram",
        user_id="7",
        chat_id="7",
        text="/start",
        locale_hint="en",
        delivery_id=delivery_id,
    )


async def _kept(services: Services) -> list[str]:
    async with services.sessions() as session:
        return sorted((await session.scalars(select(ProcessedDelivery.delivery_id))).all())


def test_the_same_platform_id_sent_to_two_bots_makes_two_keys() -> None:
    assert delivery_key("111", "1") != delivery_key("222", "1")
    assert delivery_key("111", "1") == delivery_key("111", "1")


def test_a_key_too_long_for_the_column_is_hashed_and_stays_distinct() -> None:
    long_a, long_b = delivery_key("app:team", "x" * 200), delivery_key("app:team", "y" * 200)
    assert len(long_a) <= MAX_KEY_LENGTH and len(long_b) <= MAX_KEY_LENGTH
    assert long_a != long_b


async def test_deliveries_older_than_a_day_are_forgotten_and_newer_ones_kept(
    services: Services, engine: Engine, clock: FakeClock
) -> None:
    await engine.handle(_start("bot/old"))
    clock.advance(hours=2)
    await engine.handle(_start("bot/recent"))
    clock.advance(hours=22, seconds=1)  # "old" is a day and a second old, "recent" 22 h

    assert await purge_expired(services.sessions, now=clock.now()) == 1
    assert await _kept(services) == ["bot/recent"]


async def test_a_redelivery_within_the_window_is_skipped_and_after_the_purge_is_answered(
    services: Services, engine: Engine, clock: FakeClock
) -> None:
    assert await engine.handle(_start("bot/1"))
    clock.advance(hours=23)
    assert await engine.handle(_start("bot/1")) == []  # Telegram still retrying: once only
    clock.advance(seconds=RETENTION.total_seconds())
    await purge_expired(services.sessions, now=clock.now())
    assert await engine.handle(_start("bot/1"))  # an id reused later is a new message
