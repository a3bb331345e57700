"""Rate-limit counters in the database."""

from __future__ import annotations

import datetime as dt

from bot.services import Services
from core.clock import FakeClock
from core.ratelimit import MailRequests, RateLimiter

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


# --- mailed links and codes: limits a stranger cannot spend (issue 16.5) -----------------


def _requests(services: Services) -> MailRequests:
    return MailRequests(RateLimiter(), services.pii, services.profile.limits)


async def test_strangers_asking_for_a_victims_account_never_use_up_the_victims_resets(
    services: Services, clock: FakeClock
) -> None:
    # Before: every request for a name counted against its daily cap, so a few chat
    # users asking for the victim's account (proving nothing) locked the victim out.
    requests = _requests(services)
    async with services.sessions() as session, session.begin():
        for stranger in range(30):
            assert (
                await requests.refused_until(session, actor=f"s{stranger}", now=clock.now()) is None
            )
        assert await requests.refused_until(session, actor="victim", now=clock.now()) is None
        refused = await requests.proven_refused_until(session, name="211303001", now=clock.now())
        assert refused is None
        assert await requests.may_mail(
            session, address="mingzhi.lin@example.com", proven=True, now=clock.now()
        )


async def test_unproven_mail_to_one_address_is_spaced_a_minute_and_capped_at_five_an_hour(
    services: Services, clock: FakeClock
) -> None:
    requests = _requests(services)
    address = "Victim@Example.com"
    sent = []
    async with services.sessions() as session, session.begin():
        for _ in range(60):  # one try every 30 seconds for half an hour
            sent.append(
                await requests.may_mail(session, address=address, proven=False, now=clock.now())
            )
            clock.advance(seconds=30)
    assert sent.count(True) == 5
    assert sent[:3] == [True, False, True]  # a minute apart at least


async def test_a_request_that_proves_the_id_number_is_mailed_even_after_a_flood(
    services: Services, clock: FakeClock
) -> None:
    requests = _requests(services)
    async with services.sessions() as session, session.begin():
        for _ in range(10):
            await requests.may_mail(session, address="v@example.com", proven=False, now=clock.now())
            clock.advance(seconds=61)
        assert not await requests.may_mail(
            session, address="V@EXAMPLE.COM", proven=False, now=clock.now()
        )
        assert await requests.may_mail(
            session, address="v@example.com", proven=True, now=clock.now()
        )


async def test_proven_requests_for_one_name_are_capped_per_day(
    services: Services, clock: FakeClock
) -> None:
    requests = _requests(services)
    cap = services.profile.limits.lookups_per_id_per_day
    async with services.sessions() as session, session.begin():
        results = [
            await requests.proven_refused_until(session, name="211303001", now=clock.now())
            for _ in range(cap + 1)
        ]
    assert results[:cap] == [None] * cap
    assert results[cap] == clock.now() + dt.timedelta(days=1)


async def test_one_chat_user_asking_too_often_is_refused_for_the_lockout(
    services: Services, clock: FakeClock
) -> None:
    requests = _requests(services)
    limits = services.profile.limits
    async with services.sessions() as session, session.begin():
        results = [
            await requests.refused_until(session, actor="a", now=clock.now())
            for _ in range(limits.failures_per_user + 1)
        ]
        other = await requests.refused_until(session, actor="b", now=clock.now())
    assert results[-1] == clock.now() + dt.timedelta(minutes=limits.lockout_minutes)
    assert results[:-1] == [None] * limits.failures_per_user and other is None
