"""Retention: a closed case and its thread go after the profile's period; open ones stay."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot.services import Services
from core import retention
from core.clock import FakeClock
from core.models import Case, CaseMessage, CaseStatus
from core.profiles import Retention, load_profile


async def _case(services: Services, opened: dt.datetime, closed: dt.datetime | None) -> int:
    async with services.sessions() as session, session.begin():
        case = Case(
            channel="test",
            chat_id=f"chat-{opened:%s}",
            actor="pseudonym",
            locale="en",
            status=CaseStatus.CLOSED if closed else CaseStatus.OPEN,
            question="My VPN says error 809",
            context={},
            staff_posts={},
            opened_at=opened,
            last_activity_at=closed or opened,
            closed_at=closed,
            closed_by="cli:staff" if closed else None,
            rating=4 if closed else None,
        )
        session.add(case)
        await session.flush()
        for author in ("user", "slack"):
            session.add(
                CaseMessage(
                    case_id=case.id, source=author, author=author, text="hi", created_at=opened
                )
            )
        return case.id


async def _left(services: Services) -> tuple[list[int], list[int]]:
    async with services.sessions() as session:
        cases = list(await session.scalars(select(Case.id).order_by(Case.id)))
        threads = list(await session.scalars(select(CaseMessage.case_id).order_by(CaseMessage.id)))
    return cases, threads


async def test_a_case_closed_longer_than_the_period_goes_with_its_messages(
    services: Services, clock: FakeClock
) -> None:
    now = clock.now()
    old = await _case(services, now - dt.timedelta(days=200), now - dt.timedelta(days=181))
    recent = await _case(services, now - dt.timedelta(days=200), now - dt.timedelta(days=10))
    still_open = await _case(services, now - dt.timedelta(days=400), None)

    counted = await retention.apply(services.sessions, now, Retention(), dry_run=True)
    assert counted["closed cases"] == 1 and counted["closed case messages"] == 2
    deleted = await retention.apply(services.sessions, now, Retention())
    assert deleted["closed cases"] == 1 and deleted["closed case messages"] == 2

    cases, threads = await _left(services)
    assert old not in cases and old not in threads
    assert cases == [recent, still_open]
    assert threads == [recent, recent, still_open, still_open]


async def test_the_period_for_closed_cases_comes_from_the_profile(
    services: Services, clock: FakeClock
) -> None:
    now = clock.now()
    await _case(services, now - dt.timedelta(days=60), now - dt.timedelta(days=40))
    kept = await retention.apply(services.sessions, now, Retention())
    assert kept["closed cases"] == 0
    gone = await retention.apply(services.sessions, now, Retention(closed_cases_days=30))
    assert gone["closed cases"] == 1
    assert load_profile("demo").retention.closed_cases_days == 180
