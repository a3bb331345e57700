"""Concurrency: 50 messages of one chat at once, spread over several engine instances.

Each engine has its own ``build_services`` and so its own connection pool, as separate
workers would. The messages are chosen so that the order they are applied in does not
change the final state, while each must be applied exactly once: the conversation's
``version`` counts the steps (a lost update leaves it short), ``processed_deliveries``
counts the claimed deliveries, and every message must get a normal answer (not the
"temporarily unavailable" one). The final state must equal a serial run's.

PostgreSQL serialises the steps with a row lock; SQLite with its write lock (BEGIN
IMMEDIATE), so both databases run the test.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.engine import Engine
from bot.services import Services, build_services
from bot.types import Choices, Incoming, Reply, Text
from core.clock import FakeClock
from core.models import ConversationState, ProcessedDelivery
from core.settings import Settings
from tests.chat import Chat

MESSAGES = 50
WORKERS = 5
UNAVAILABLE = "temporarily unavailable"
_ids = itertools.count(1)


@dataclass(frozen=True)
class Scenario:
    """Bring a chat to a state, then send ``message`` there 50 times."""

    name: str
    setup: tuple[str, ...]  # typed lines; "button:<label>" presses a button
    message: str
    expect: str  # in every answer to ``message``
    final: tuple[str | None, str | None]  # (flow, state) afterwards


SCENARIOS = [
    # The first messages ever of a chat: its conversation and identity rows are created
    # by whichever step comes first, the others must wait for it and reuse them.
    Scenario("help_to_a_new_chat", (), "/help", "/cancel", (None, None)),
    Scenario("help_while_idle", ("/start",), "/help", "/cancel", (None, None)),
    Scenario(
        "bad_id_numbers_inside_a_flow",
        ("/start", "button:Look up my student ID", "button:Master's programme"),
        "A123456788",  # a check digit that does not match: asked again, state unchanged
        "check digit does not match",
        ("student_id", "id_number"),
    ),
]


@pytest.fixture
async def workers(settings: Settings, clock: FakeClock) -> AsyncIterator[list[Engine]]:
    """Several engines, each over its own services and connection pool."""
    built = [build_services(settings, clock=clock) for _ in range(WORKERS)]
    try:
        yield [Engine(services) for services in built]
    finally:
        for services in built:
            await services.close()


async def _prepare(engine: Engine, user: str, scenario: Scenario) -> Chat:
    chat = Chat(engine, user=user)
    for line in scenario.setup:
        if line.startswith("button:"):
            await chat.press(line.removeprefix("button:"))
        else:
            await chat.say(line)
        assert UNAVAILABLE not in chat.text()
    return chat


def _incoming(chat: Chat, text: str) -> Incoming:
    return chat.incoming(text=text, delivery_id=f"conc-{next(_ids)}")


def _said(replies: list[Reply]) -> str:
    parts = []
    for reply in replies:
        if isinstance(reply, Text | Choices):
            parts.append(reply.text)
    return "\n".join(parts)


async def _snapshot(services: Services, user: str) -> dict[str, Any]:
    async with services.sessions() as session:
        row = await session.get(ConversationState, ("test", user))
    if row is None:
        return {"flow": None, "state": None, "data": None, "version": 0}
    return {"flow": row.flow, "state": row.state, "data": row.data, "version": row.version}


async def _deliveries(services: Services, ids: list[str]) -> int:
    async with services.sessions() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(ProcessedDelivery)
                .where(ProcessedDelivery.channel == "test", ProcessedDelivery.delivery_id.in_(ids))
            )
            or 0
        )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_fifty_concurrent_messages_of_one_chat_are_each_applied_once_as_a_serial_run_would(
    workers: list[Engine], scenario: Scenario
) -> None:
    services = workers[0].services
    # The reference: the same messages, one after the other, in another chat.
    serial = await _prepare(workers[0], "serial", scenario)
    for _ in range(MESSAGES):
        assert scenario.expect in _said(await serial.send(_incoming(serial, scenario.message)))
    expected = await _snapshot(services, "serial")

    chat = await _prepare(workers[0], "racer", scenario)
    before = await _snapshot(services, "racer")
    batch = [_incoming(chat, scenario.message) for _ in range(MESSAGES)]
    started = time.monotonic()
    async with asyncio.timeout(30):
        answers = await asyncio.gather(
            *(workers[n % WORKERS].handle(incoming) for n, incoming in enumerate(batch))
        )
    elapsed = time.monotonic() - started

    said = [_said(replies) for replies in answers]
    assert [UNAVAILABLE in text for text in said] == [False] * MESSAGES
    assert [scenario.expect in text for text in said] == [True] * MESSAGES
    after = await _snapshot(services, "racer")
    assert after["version"] == before["version"] + MESSAGES, "a step was lost or doubled"
    assert await _deliveries(services, [i.delivery_id or "" for i in batch]) == MESSAGES
    assert (after["flow"], after["state"]) == scenario.final
    assert {k: after[k] for k in ("flow", "state", "data")} == {
        k: expected[k] for k in ("flow", "state", "data")
    }
    assert after["version"] == expected["version"]
    assert elapsed < 20
