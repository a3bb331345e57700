"""Rate limits and lockouts with counters in the database, shared by every worker.

A counter's window opens at its first hit and lasts ``window``; the increment is a
single upsert, so two workers hitting the same key at once both count.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import case, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import RateLimitCounter

SHARDS = 16


@dataclass(frozen=True, slots=True)
class Hit:
    count: int
    resets_at: dt.datetime


class RateLimiter:
    """Counters keyed by purpose and subject (a hashed user, a hashed ID, 'global')."""

    async def hit(
        self, session: AsyncSession, key: str, *, window: dt.timedelta, now: dt.datetime
    ) -> Hit:
        """Count one event under ``key``; return the count in the current window."""
        counter = RateLimitCounter
        insert = (
            postgresql.insert(counter)
            if session.get_bind().dialect.name == "postgresql"
            else sqlite.insert(counter)
        )
        new = insert.excluded
        expired = counter.expires_at <= literal(now, counter.expires_at.type)
        statement = (
            insert.values(key=key, window_start=now, count=1, expires_at=now + window)
            .on_conflict_do_update(
                index_elements=[counter.key],
                set_={
                    "count": case((expired, 1), else_=counter.count + 1),
                    "window_start": case((expired, new.window_start), else_=counter.window_start),
                    "expires_at": case((expired, new.expires_at), else_=counter.expires_at),
                },
            )
            .returning(counter.count, counter.expires_at)
        )
        count, resets_at = (await session.execute(statement)).one()
        return Hit(count=count, resets_at=resets_at)

    async def hit_spread(
        self,
        session: AsyncSession,
        key: str,
        *,
        window: dt.timedelta,
        now: dt.datetime,
        shards: int = SHARDS,
    ) -> Hit:
        """Count one event under a busy key (a global cap) without one hot row.

        Every transaction that counts holds its counter row's lock until it commits, so a
        single global row makes all chats wait for each other (bench/README.md). The count
        is spread over ``shards`` rows; the total is their sum.
        """
        shard = await self.hit(
            session, f"{key}:{secrets.randbelow(shards)}", window=window, now=now
        )
        names = [f"{key}:{n}" for n in range(shards)]
        total = await session.scalar(
            select(func.coalesce(func.sum(RateLimitCounter.count), 0)).where(
                RateLimitCounter.key.in_(names), RateLimitCounter.expires_at > now
            )
        )
        return Hit(count=int(total or 0), resets_at=shard.resets_at)

    async def peek(self, session: AsyncSession, key: str, *, now: dt.datetime) -> Hit | None:
        """The live count under ``key``, or None when it has none."""
        counter = await session.get(RateLimitCounter, key, populate_existing=True)
        if counter is None or counter.expires_at <= now:
            return None
        return Hit(count=counter.count, resets_at=counter.expires_at)

    async def locked_until(
        self, session: AsyncSession, subject: str, *, now: dt.datetime
    ) -> dt.datetime | None:
        lock = await self.peek(session, f"lock:{subject}", now=now)
        return lock.resets_at if lock is not None else None

    async def record_failure(
        self,
        session: AsyncSession,
        subject: str,
        *,
        limit: int,
        lockout: dt.timedelta,
        now: dt.datetime,
    ) -> dt.datetime | None:
        """Count a failure; at ``limit`` failures lock ``subject`` for ``lockout``.

        Taiwan's baseline (資通系統防護基準): lock at least 15 minutes after 5
        failed attempts. Returns when the lock ends, if this failure set it.
        """
        failures = await self.hit(session, f"fail:{subject}", window=lockout, now=now)
        if failures.count < limit:
            return None
        lock = await self.hit(session, f"lock:{subject}", window=lockout, now=now)
        # The failures that led to the lock are spent; the next window starts clean.
        counter = await session.get(RateLimitCounter, f"fail:{subject}")
        if counter is not None:
            await session.delete(counter)
        return lock.resets_at


async def purge_expired(session: AsyncSession, *, now: dt.datetime) -> int:
    """Delete counters whose window has closed."""
    rows = (
        await session.scalars(select(RateLimitCounter).where(RateLimitCounter.expires_at <= now))
    ).all()
    for row in rows:
        await session.delete(row)
    return len(rows)
