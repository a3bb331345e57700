"""Real ``helpdesk worker`` processes on the PostgreSQL test database, and its job queue."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from sqlalchemy import text

from core.jobs import SCHEMA
from core.settings import Settings
from tests.conftest import TEST_SECRET

HELPDESK = Path(sys.executable).with_name("helpdesk")


async def empty_queue(url: str) -> None:
    """Delete every job and worker the queue holds."""
    from core.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for table in ("procrastinate_jobs", "procrastinate_workers"):
                await connection.execute(text(f"DELETE FROM {SCHEMA}.{table}"))
    finally:
        await engine.dispose()


@contextlib.contextmanager
def worker_process(
    settings: Settings, extra_env: dict[str, str], log: IO[bytes]
) -> Iterator[subprocess.Popen[bytes]]:
    """A ``helpdesk worker`` on the test database, with ``extra_env`` on top; stopped after.

    On the way out a worker still running gets SIGTERM, and is killed if it has not
    stopped within 30 seconds.
    """
    env = {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "HELPDESK_HOME": str(settings.home),
        "HELPDESK_SECRET_KEY": TEST_SECRET,
        "HELPDESK_PROFILE": "demo",
        **extra_env,
    }
    process = subprocess.Popen([str(HELPDESK), "worker"], env=env, stderr=log)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
