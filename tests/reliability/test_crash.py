"""Crash: a worker killed (SIGKILL) inside a step's transaction leaves no half-written rows.

The step is the last one of "I forgot my password", which writes to several tables in
one transaction: rate-limit counters, a one-time token, a queued mail, an audit event,
the claimed delivery and the conversation's new state. A worker process
(tests/reliability/crash_step.py) runs it with a ``before_commit`` hook that flushes
those writes and then sleeps; the test kills the process during that sleep. Every
table must read as before, and a new process given the same delivery (the platform's
retry) must complete the step once. tests/e2e/test_console.py has the between-steps
case (a console process killed while waiting for input).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.engine import Engine
from bot.services import Services
from bot.types import Incoming
from core.clock import FakeClock
from core.models import (
    AuditEvent,
    Base,
    ConversationState,
    OneTimeToken,
    OutboundMail,
    ProcessedDelivery,
)
from core.settings import Settings
from tests.chat import Chat
from tests.conftest import TEST_SECRET
from tests.factories import add_lin

ROOT = Path(__file__).resolve().parents[2]
PAUSED = "IN-TRANSACTION"
STEP = Incoming(
    channel="test",
    user_id="alice",
    chat_id="alice",
    text="F131104093",
    locale_hint="en",
    delivery_id="crash-delivery-1",
)


def _environment(settings: Settings) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(
        HELPDESK_HOME=str(settings.home),
        DATABASE_URL=settings.sqlalchemy_url,
        HELPDESK_SECRET_KEY=TEST_SECRET,
        HELPDESK_PROFILE=settings.profile,
        HELPDESK_ARGON2_TIME_COST="2",
        HELPDESK_ARGON2_MEMORY_KIB="19456",
        HELPDESK_ARGON2_PARALLELISM="1",
    )
    return environment


def _worker(settings: Settings, clock: FakeClock, *, pause: bool) -> subprocess.Popen[str]:
    fields = {name: getattr(STEP, name) for name in STEP.__slots__}
    command = [
        sys.executable,
        "-m",
        "tests.reliability.crash_step",
        json.dumps(fields),
        clock.now().isoformat(),
    ]
    return subprocess.Popen(
        [*command, "--pause"] if pause else command,
        cwd=ROOT,
        env=_environment(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _dump(services: Services) -> dict[str, list[str]]:
    """Every row of every table, as text, in a stable order."""
    tables: dict[str, list[str]] = {}
    async with services.sessions() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            tables[table.name] = sorted(repr(tuple(row)) for row in rows)
    return tables


async def _count(services: Services, model: type[Any], *where: Any) -> int:
    async with services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _version(services: Services) -> int:
    async with services.sessions() as session:
        state = await session.get(ConversationState, ("test", "alice"))
    assert state is not None
    return state.version


async def _at_the_id_number_question(services: Services) -> None:
    await add_lin(
        services,
        with_account=True,
    )
    chat = Chat(Engine(services), user="alice")
    await chat.say("/start")
    await chat.press("I forgot my password")
    await chat.say("211300001")
    assert "national ID number" in chat.text()


async def test_a_worker_killed_inside_a_steps_transaction_leaves_no_rows_and_a_retry_completes(
    services: Services, settings: Settings, clock: FakeClock
) -> None:
    await _at_the_id_number_question(services)
    before = await _dump(services)
    version = await _version(services)

    worker = _worker(settings, clock, pause=True)
    try:
        assert worker.stdout is not None
        async with asyncio.timeout(20):
            line = await asyncio.to_thread(worker.stdout.readline)
        assert line.strip() == PAUSED, worker.stderr.read() if worker.stderr else line
    finally:
        worker.send_signal(signal.SIGKILL)
        _out, err = worker.communicate(timeout=10)
    assert worker.returncode == -signal.SIGKILL, err

    # Nothing of the step is left: not the delivery, the audit event, the token, the
    # mail, the counters, nor the conversation's new version.
    assert await _dump(services) == before

    # The platform retries the same delivery; a new worker completes the step, once.
    started = time.monotonic()
    retry = _worker(settings, clock, pause=False)
    out, err = retry.communicate(timeout=30)
    assert retry.returncode == 0, err
    assert time.monotonic() - started < 20
    assert "If the details match, a link was sent" in json.loads(out.splitlines()[-1])[0]

    async with services.sessions() as session:
        state = await session.get(ConversationState, ("test", "alice"))
    assert state is not None and (state.flow, state.state) == (None, None)
    assert state.version == version + 1
    claimed = ProcessedDelivery.delivery_id == STEP.delivery_id
    assert await _count(services, ProcessedDelivery, claimed) == 1
    assert await _count(services, AuditEvent, AuditEvent.action == "link_request") == 1
    assert await _count(services, OutboundMail) == 1
    assert await _count(services, OneTimeToken) == 1

    # And a further redelivery is skipped.
    assert await Engine(services).handle(STEP) == []
    assert await _version(services) == version + 1
