"""Heartbeats of the background jobs: when each last finished a round, in the database.

The mail queue may be worked by the web workers or by a worker process of its own;
either way ``/readyz`` sees, from the database, whether someone is still sending.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.db import insert
from core.models import WorkerHeartbeat

MAIL_JOB = "mail"
# Writing the heartbeat at every 2-second round of the mail queue would take SQLite's
# write lock that often; once a this often is plenty for "seen recently".
BEAT_EVERY = dt.timedelta(seconds=30)


async def beat(sessions: async_sessionmaker[AsyncSession], job: str, now: dt.datetime) -> None:
    """Record that ``job`` finished a round at ``now``."""
    async with sessions() as session, session.begin():
        upsert = insert(session, WorkerHeartbeat)
        await session.execute(
            upsert.values(job=job, seen_at=now).on_conflict_do_update(
                index_elements=[WorkerHeartbeat.job], set_={"seen_at": upsert.excluded.seen_at}
            )
        )


async def last_seen(session: AsyncSession, job: str) -> dt.datetime | None:
    """When ``job`` last finished a round, or ``None`` if never."""
    return await session.scalar(select(WorkerHeartbeat.seen_at).where(WorkerHeartbeat.job == job))


def beating(
    work: Callable[[], Awaitable[object]],
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    job: str,
) -> Callable[[], Awaitable[None]]:
    """``work`` that records a heartbeat after a successful round (at most every 30 s)."""
    last: dt.datetime | None = None

    async def round_() -> None:
        nonlocal last
        await work()
        now = clock.now()
        if last is None or now - last >= BEAT_EVERY:
            await beat(sessions, job, now)
            last = now

    return round_
