"""Rate-limit counters in the database."""

from __future__ import annotations

import datetime as dt

from bot.services import Services
from core.clock import FakeClock
from core.ratelimit import RateLimiter

MINUTE = dt.timedelta(minutes=1)


async def test_hits_count_up_within_the_window_and_restart_after_it(
    services: Services, clock: FakeClock
) -> None:
    limiter = RateLimiter()
    async with services.sessions() as session, session.begin():
        counts = [(await limiter.hit(session, "k", window=MINUTE, now=clock.now())).count]
        counts.append((await limiter.hit(session, "k", window=MINUTE, now=clock.now())).count)
        later = clock.now() + dt.timedelta(seconds=61)
        counts.append((await limiter.hit(session, "k", window=MINUTE, now=later)).count)
    assert counts == [1, 2, 1]


async def test_counters_survive_across_sessions_like_across_workers(
    services: Services, clock: FakeClock
) -> None:
    limiter = RateLimiter()
    for _ in range(3):
        async with services.sessions() as session, session.begin():
            hit = await limiter.hit(session, "shared", window=MINUTE, now=clock.now())
    assert hit.count == 3
    assert hit.resets_at == clock.now() + MINUTE


async def test_the_fifth_failure_locks_for_the_lockout_and_then_releases(
    services: Services, clock: FakeClock
) -> None:
    limiter = RateLimiter()
    lockout = dt.timedelta(minutes=15)
    async with services.sessions() as session, session.begin():
        results = [
            await limiter.record_failure(session, "u", limit=5, lockout=lockout, now=clock.now())
            for _ in range(5)
        ]
        assert results[:4] == [None] * 4
        assert results[4] == clock.now() + lockout
        assert await limiter.locked_until(session, "u", now=clock.now()) == results[4]
        after = clock.now() + lockout + dt.timedelta(seconds=1)
        assert await limiter.locked_until(session, "u", now=after) is None


async def test_a_spread_counter_counts_every_hit_across_its_shards(
    services: Services, clock: FakeClock
) -> None:
    limiter = RateLimiter()
    async with services.sessions() as session, session.begin():
        counts = [
            (await limiter.hit_spread(session, "global", window=MINUTE, now=clock.now())).count
            for _ in range(40)
        ]
        later = clock.now() + dt.timedelta(seconds=61)
        fresh = await limiter.hit_spread(session, "global", window=MINUTE, now=later)
    assert counts == list(range(1, 41))
    assert fresh.count == 1
