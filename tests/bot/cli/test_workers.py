"""``helpdesk worker`` (the background jobs alone) and ``helpdesk serve --workers``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.services import Services
from core.mail import enqueue
from core.models import WorkerHeartbeat
from core.settings import Settings
from tests.bot.cli.conftest import helpdesk
from tests.conftest import TEST_SECRET

HELPDESK = Path(sys.executable).with_name("helpdesk")


async def test_the_worker_sends_queued_mail_beats_and_stops_on_sigterm(
    services: Services, settings: Settings
) -> None:
    async with services.sessions() as session, session.begin():
        enqueue(session, to="a@example.org", subject="Hello", body="b", now=services.clock.now())
    env = {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "HELPDESK_HOME": str(settings.home),
        "HELPDESK_SECRET_KEY": TEST_SECRET,
        "HELPDESK_PROFILE": "demo",
    }
    worker = subprocess.Popen(  # noqa: ASYNC220 (started once, waited for below)
        [str(HELPDESK), "worker"], env=env, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        beats: list[str] = []
        # The mail is written first and the heartbeat after it: wait for both.
        while not list(settings.outbox_dir.glob("*.eml")) or not beats:
            assert time.monotonic() < deadline, "no mail sent, or no heartbeat after it"
            assert worker.poll() is None
            await asyncio.sleep(0.2)
            async with services.sessions() as session:
                beats = list((await session.scalars(select(WorkerHeartbeat.job))).all())
        assert beats == ["mail"]
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr.decode()


def test_several_workers_are_refused_on_sqlite(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL")  # the embedded SQLite file under HELPDESK_HOME
    result = helpdesk("serve", "--port", "18765", "--workers", "2")
    assert result.exit_code == 2
    assert "Several workers need PostgreSQL" in result.output
