"""Mailboxes: reading their condition for users, changing it for staff (seeds 002, 004)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.errors import HelpdeskError
from core.models import Mailbox, MailboxCondition

UNITS = ("KB", "MB", "GB", "TB", "PB")


def human_kb(kb: int) -> str:
    """Seed 004 shows quota as 0KB/62914560KB; people read 62914560 KB as 60 GB."""
    value = float(kb)
    unit = 0
    while value >= 1024 and unit < len(UNITS) - 1:
        value /= 1024
        unit += 1
    shown = f"{value:.0f}" if value == int(value) or value >= 100 else f"{value:.1f}"
    return f"{shown} {UNITS[unit]}"


class UnknownMailbox(HelpdeskError):
    """No mailbox has that address."""


class NotSuspended(HelpdeskError):
    """Lifting a suspension of a mailbox that is not suspended; its condition is the message."""


@dataclass(frozen=True, slots=True)
class MailboxView:
    """A mailbox as its owner and staff see it (never its password hash)."""

    id: int
    person_id: int
    address: str
    condition: str
    suspended_reason: str | None
    suspended_at: dt.datetime | None
    suspension_notice: str | None
    quota_used_kb: int
    quota_limit_kb: int
    notification_address: str | None
    created_at: dt.datetime


def _view(mailbox: Mailbox) -> MailboxView:
    return MailboxView(
        id=mailbox.id,
        person_id=mailbox.person_id,
        address=mailbox.address,
        condition=mailbox.condition,
        suspended_reason=mailbox.suspended_reason,
        suspended_at=mailbox.suspended_at,
        suspension_notice=mailbox.suspension_notice,
        quota_used_kb=mailbox.quota_used_kb,
        quota_limit_kb=mailbox.quota_limit_kb,
        notification_address=mailbox.notification_address,
        created_at=mailbox.created_at,
    )


async def by_address(session: AsyncSession, address: str) -> Mailbox:
    mailbox = await session.scalar(
        select(Mailbox).where(func.lower(Mailbox.address) == address.strip().lower())
    )
    if mailbox is None:
        raise UnknownMailbox(address)
    return mailbox


async def look_up(session: AsyncSession, address: str) -> MailboxView:
    """The mailbox with this address (any case); raises UnknownMailbox."""
    return _view(await by_address(session, address))


async def addresses_of(session: AsyncSession, person_id: int) -> list[str]:
    """The addresses of the person's mailboxes, in address order."""
    rows = await session.scalars(
        select(Mailbox.address).where(Mailbox.person_id == person_id).order_by(Mailbox.address)
    )
    return list(rows)


async def of_person(
    session: AsyncSession, person_id: int, *, takes_effect_minutes: int = 0, now: dt.datetime
) -> list[MailboxView]:
    """The person's mailboxes; a new one counts as working once its delay has passed."""
    rows = list(
        await session.scalars(
            select(Mailbox).where(Mailbox.person_id == person_id).order_by(Mailbox.address)
        )
    )
    # Seed 004: "The above account will take effect in 10 minutes!"
    for mailbox in rows:
        delay = dt.timedelta(minutes=takes_effect_minutes)
        if mailbox.condition == MailboxCondition.PENDING and now >= mailbox.created_at + delay:
            mailbox.condition = MailboxCondition.NORMAL
    return [_view(mailbox) for mailbox in rows]


async def suspend(
    session: AsyncSession,
    address: str,
    *,
    reason: str,
    notice: str | None,
    actor: str,
    now: dt.datetime,
) -> MailboxView:
    """Suspend a mailbox (seed 002: 已經被管理者暫停密碼) with a reason and a notice."""
    mailbox = await by_address(session, address)
    mailbox.condition = MailboxCondition.SUSPENDED
    mailbox.suspended_reason = reason
    mailbox.suspended_at = now
    mailbox.suspension_notice = notice or reason
    audit.record(
        session,
        at=now,
        channel="cli",
        actor=actor,
        flow="mailbox_admin",
        action="suspend",
        outcome="done",
        mailbox=mailbox.id,
    )
    return _view(mailbox)


def _lift(mailbox: Mailbox) -> None:
    """Back to normal, with nothing left of the suspension."""
    mailbox.condition = MailboxCondition.NORMAL
    mailbox.suspended_reason = None
    mailbox.suspended_at = None
    mailbox.suspension_notice = None


async def unsuspend(
    session: AsyncSession, address: str, *, actor: str, now: dt.datetime
) -> MailboxView:
    """Lift a suspension; raises NotSuspended, changing nothing, if there is none."""
    mailbox = await by_address(session, address)
    if mailbox.condition != MailboxCondition.SUSPENDED:
        raise NotSuspended(str(mailbox.condition))
    _lift(mailbox)
    audit.record(
        session,
        at=now,
        channel="cli",
        actor=actor,
        flow="mailbox_admin",
        action="unsuspend",
        outcome="done",
        mailbox=mailbox.id,
    )
    return _view(mailbox)


async def lift_after_reset(session: AsyncSession, mailbox_id: int, *, now: dt.datetime) -> bool:
    """Lift a suspension because its owner set a new password (where the profile says so)."""
    mailbox = await session.get(Mailbox, mailbox_id)
    if mailbox is None or mailbox.condition != MailboxCondition.SUSPENDED:
        return False
    _lift(mailbox)
    audit.record(
        session,
        at=now,
        channel="web",
        actor=f"mailbox:{mailbox.id}",
        flow="reset",
        action="unsuspend",
        outcome="lifted_by_new_password",
        mailbox=mailbox.id,
    )
    return True
