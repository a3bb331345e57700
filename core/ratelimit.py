"""Rate limits and lockouts with counters in the database, shared by every worker.

A counter's window opens at its first hit and lasts ``window``; the increment is a
single upsert, so two workers hitting the same key at once both count.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import insert
from core.models import RateLimitCounter
from core.pii import PiiHasher
from core.profiles import Limits

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
        upsert = insert(session, counter)
        new = upsert.excluded
        expired = counter.expires_at <= literal(now, counter.expires_at.type)
        statement = (
            upsert.values(key=key, window_start=now, count=1, expires_at=now + window)
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
        limit: int | None = None,
        shards: int = SHARDS,
    ) -> Hit:
        """Count one event under a busy key (a global cap) without one hot row.

        Every transaction that counts holds its counter row's lock until it commits, so a
        single global row makes all chats wait for each other (bench/README.md). The count
        is spread over ``shards`` rows; the total is their sum.

        The sum misses the counts of transactions not yet committed, at most one per
        shard (each holds its row's lock). Given ``limit``, that never lets more than
        ``limit`` events count as within it: near the limit the count is made exact (every
        shard row locked, in one order, which waits for those commits); further away a
        count that could be off by enough to cross the limit is reported as over it.
        """
        names = sorted(f"{key}:{n}" for n in range(shards))
        if limit is not None and await self._sum(session, names, now) + shards > limit:
            await self._lock_all(session, names, window=window, now=now)
            shard = await self.hit(session, secrets.choice(names), window=window, now=now)
            return Hit(count=await self._sum(session, names, now), resets_at=shard.resets_at)
        shard = await self.hit(session, secrets.choice(names), window=window, now=now)
        total = await self._sum(session, names, now)
        if limit is not None and total + shards - 1 > limit:
            total = max(total, limit + 1)  # others may have counted meanwhile: refuse
        return Hit(count=total, resets_at=shard.resets_at)

    async def _sum(self, session: AsyncSession, names: list[str], now: dt.datetime) -> int:
        total = await session.scalar(
            select(func.coalesce(func.sum(RateLimitCounter.count), 0)).where(
                RateLimitCounter.key.in_(names), RateLimitCounter.expires_at > now
            )
        )
        return int(total or 0)

    async def _lock_all(
        self, session: AsyncSession, names: list[str], *, window: dt.timedelta, now: dt.datetime
    ) -> None:
        """Create the missing shard rows (empty) and lock them all, in ``names`` order."""
        counter = RateLimitCounter
        statement = insert(session, counter)
        rows = [
            {"key": name, "window_start": now, "count": 0, "expires_at": now + window}
            for name in names
        ]
        await session.execute(statement.values(rows).on_conflict_do_nothing())
        await session.execute(
            select(counter.key)
            .where(counter.key.in_(names))
            .order_by(counter.key)
            .with_for_update()
        )

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


# Mails a request that proves nothing may send to one address: one a minute, five an
# hour. A stranger can name anyone's account; this is all the mail they can cause.
MAIL_SPACING = dt.timedelta(seconds=60)
MAILS_PER_ADDRESS_PER_HOUR = 5


class MailRequests:
    """Limits on mailed links and codes that a stranger cannot spend on someone's behalf.

    Anyone may name any account and ask for a change link or a linking code, proving
    nothing. So such a request counts only against the asker (per chat user) and the
    service (overall), and its mail is dropped when the address had one in the last
    minute or five in the last hour. The per-name daily cap counts only requests that
    proved the ID number, which a stranger cannot make; and a request that proves it is
    never held back by the address's limits, so the owner can always reset.

    A flow calls, in order: ``refused_until`` (refuse the request if it returns a time),
    then, once it knows whether the ID number matched, ``proven_refused_until`` for a
    proven request, and ``may_mail`` right before queueing the mail.
    """

    def __init__(self, limiter: RateLimiter, pii: PiiHasher, limits: Limits) -> None:
        self.limiter = limiter
        self.pii = pii
        self.limits = limits

    async def refused_until(
        self, session: AsyncSession, *, actor: str, now: dt.datetime
    ) -> dt.datetime | None:
        """Count a request by ``actor`` (a chat user's pseudonym); when refused, until when."""
        limits = self.limits
        window = dt.timedelta(minutes=limits.lockout_minutes)
        per_user = await self.limiter.hit(session, f"mailreq:user:{actor}", window=window, now=now)
        if per_user.count > limits.failures_per_user:
            return per_user.resets_at
        overall = await self.limiter.hit_spread(
            session,
            "mailreq:global",
            window=dt.timedelta(minutes=1),
            now=now,
            limit=limits.lookups_global_per_minute,
        )
        if overall.count > limits.lookups_global_per_minute:
            return overall.resets_at
        return None

    async def proven_refused_until(
        self, session: AsyncSession, *, name: str, now: dt.datetime
    ) -> dt.datetime | None:
        """Count a request for ``name`` that proved the ID number; over the cap, until when."""
        key = f"mailreq:proven:{self.pii.subject('account', name)}"
        hit = await self.limiter.hit(session, key, window=dt.timedelta(days=1), now=now)
        if hit.count > self.limits.lookups_per_id_per_day:
            return hit.resets_at
        return None

    async def may_mail(
        self, session: AsyncSession, *, address: str, proven: bool, now: dt.datetime
    ) -> bool:
        """Whether to queue a mail to ``address`` now; a proven request always may."""
        subject = self.pii.subject("address", address)
        spaced = await self.limiter.hit(
            session, f"mailto:spacing:{subject}", window=MAIL_SPACING, now=now
        )
        if not proven and spaced.count > 1:
            return False
        hourly = await self.limiter.hit(
            session, f"mailto:hour:{subject}", window=dt.timedelta(hours=1), now=now
        )
        return proven or hourly.count <= MAILS_PER_ADDRESS_PER_HOUR


async def purge_expired(session: AsyncSession, *, now: dt.datetime) -> int:
    """Delete counters whose window has closed."""
    rows = (
        await session.scalars(select(RateLimitCounter).where(RateLimitCounter.expires_at <= now))
    ).all()
    for row in rows:
        await session.delete(row)
    return len(rows)
