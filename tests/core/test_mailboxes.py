"""Mailboxes as plain values: their owner's view, and staff suspending and lifting."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from bot.services import Services
from core.clock import FakeClock
from core.mailboxes import (
    MailboxView,
    NotSuspended,
    UnknownMailbox,
    look_up,
    of_person,
    suspend,
    unsuspend,
)
from core.models import AuditEvent, Mailbox, MailboxCondition
from tests.factories import LIN_STUDENT_ID, add_lin

ADDRESS = f"a{LIN_STUDENT_ID}@grad.demo.edu.tw"


async def test_staff_suspend_and_lift_a_mailbox_and_each_step_is_audited(
    services: Services,
) -> None:
    await add_lin(services)
    now = services.clock.now()
    async with services.sessions() as session, session.begin():
        suspended = await suspend(
            session, ADDRESS.upper(), reason="Spam", notice=None, actor="staff-chen", now=now
        )
    assert isinstance(suspended, MailboxView)
    assert (suspended.condition, suspended.suspended_reason, suspended.suspension_notice) == (
        MailboxCondition.SUSPENDED,
        "Spam",
        "Spam",
    )
    async with services.sessions() as session, session.begin():
        lifted = await unsuspend(session, ADDRESS, actor="staff-chen", now=now)
    assert lifted == dataclasses.replace(
        suspended,
        condition=MailboxCondition.NORMAL,
        suspended_reason=None,
        suspended_at=None,
        suspension_notice=None,
    )
    async with services.sessions() as session:
        assert await look_up(session, ADDRESS) == lifted
        actions = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["suspend", "unsuspend"]


async def test_lifting_a_mailbox_that_is_not_suspended_changes_nothing(
    services: Services,
) -> None:
    await add_lin(services)
    async with services.sessions() as session, session.begin():
        with pytest.raises(NotSuspended, match="normal"):
            await unsuspend(session, ADDRESS, actor="staff-chen", now=services.clock.now())
        with pytest.raises(UnknownMailbox):
            await look_up(session, "nobody@grad.demo.edu.tw")
        assert list(await session.scalars(select(AuditEvent))) == []


async def test_a_new_mailbox_counts_as_working_once_its_delay_has_passed(
    services: Services, clock: FakeClock
) -> None:
    lin = await add_lin(services)
    async with services.sessions() as session, session.begin():
        mailbox = await session.scalar(select(Mailbox).where(Mailbox.person_id == lin.id))
        assert mailbox is not None
        mailbox.condition = MailboxCondition.PENDING
        mailbox.created_at = clock.now()

    async def condition() -> str:
        async with services.sessions() as session, session.begin():
            (box,) = await of_person(session, lin.id, takes_effect_minutes=10, now=clock.now())
            return box.condition

    clock.advance(minutes=9)
    assert await condition() == MailboxCondition.PENDING
    clock.advance(minutes=1)
    assert await condition() == MailboxCondition.NORMAL
    clock.advance(minutes=-5)  # once working, it stays working
    assert await condition() == MailboxCondition.NORMAL
