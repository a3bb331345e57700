"""Two ``helpdesk worker`` processes on PostgreSQL run each background round once.

The mail round is a periodic job of the queue (core/jobs.py): both workers' deferrers
offer it every two seconds and PostgreSQL takes it once. A real SMTP server (aiosmtpd)
receives the queued mail exactly once; a second mail queued after it arrives shows that
later rounds went on running, and it too arrives once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import select

from bot.services import Services
from core.heartbeats import MAIL_JOB, last_seen
from core.mail import enqueue
from core.models import MailStatus, OutboundMail
from core.settings import Settings
from tests.job_workers import empty_queue, worker_process
from tests.smtp import SmtpSink

HELPDESK = Path(sys.executable).with_name("helpdesk")


@pytest.fixture
def pg_settings(settings: Settings) -> Iterator[Settings]:
    if not settings.sqlalchemy_url.startswith("postgresql"):
        pytest.skip("workers in separate processes share PostgreSQL's queue")
    asyncio.run(empty_queue(settings.sqlalchemy_url))
    yield settings
    asyncio.run(empty_queue(settings.sqlalchemy_url))


@contextlib.contextmanager
def worker(settings: Settings, smtp_port: int, log: IO[bytes]) -> Iterator[None]:
    """A worker that sends mail to ``smtp_port``, and stops cleanly when the block ends."""
    smtp = {"HELPDESK_SMTP_HOST": "127.0.0.1", "HELPDESK_SMTP_PORT": str(smtp_port)}
    with worker_process(settings, smtp, log) as process:
        yield
    assert process.returncode == 0


async def _queue_mail(services: Services, subject: str) -> None:
    async with services.sessions() as session, session.begin():
        enqueue(session, to="lin@example.org", subject=subject, body="b", now=services.clock.now())


async def _sent(services: Services) -> int:
    async with services.sessions() as session:
        rows = await session.scalars(
            select(OutboundMail.id).where(OutboundMail.status == MailStatus.SENT)
        )
        return len(rows.all())


async def test_two_workers_send_one_queued_mail_once(
    pg_settings: Settings, services: Services, tmp_path: Path
) -> None:
    await _queue_mail(services, "First")
    with SmtpSink(timeout=90) as sink, (tmp_path / "workers.log").open("wb") as log:
        with worker(pg_settings, sink.port, log), worker(pg_settings, sink.port, log):
            async with asyncio.timeout(90):
                await sink.wait_for(1)
                # Recorded as sent, then more rounds: a second mail goes out after it.
                while await _sent(services) != 1:  # noqa: ASYNC110 (a row, not an event)
                    await asyncio.sleep(0.1)
                await _queue_mail(services, "Second")
                await sink.wait_for(2)
                while await _sent(services) != 2:  # noqa: ASYNC110 (a row, not an event)
                    await asyncio.sleep(0.1)
        subjects = [message["Subject"] for message in sink.messages]
    assert subjects == ["First", "Second"], (tmp_path / "workers.log").read_text()
    async with services.sessions() as session:
        assert await last_seen(session, MAIL_JOB) is not None  # /readyz sees the sender
