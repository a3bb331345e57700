"""Applying for a new campus mailbox (seed 004, NTHU 申請電子郵件帳號): who may, and creating it.

Only a person whose status allows it may apply (staff where the profile lets them;
students in the profile's statuses), one mailbox in the institution's domain each, and
only with a notification address on file, where the new mailbox's password link goes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.mailbox_names import free_names
from core.models import Mailbox, MailboxCondition, Person, Role, StudentRecord
from core.profiles import Profile


class Refusal(StrEnum):
    HAS_MAILBOX = "has_mailbox"
    NOT_ALLOWED = "not_allowed"  # neither staff who may apply nor a student who may
    NO_ADDRESS = "no_address"  # nowhere to send the new mailbox's password link


@dataclass(frozen=True, slots=True)
class Ineligible:
    """Why a person may not apply; ``address`` is the mailbox they already have."""

    reason: Refusal
    address: str | None = None


@dataclass(frozen=True, slots=True)
class NewMailbox:
    """A mailbox just created, pending until it takes effect."""

    id: int
    person_id: int
    address: str
    quota_limit_kb: int
    notification_address: str | None


async def refusal(session: AsyncSession, profile: Profile, person_id: int) -> Ineligible | None:
    """Why the person may not apply for a mailbox, or None when they may."""
    domain = profile.accounts.mail_domain
    existing = await session.scalar(
        select(Mailbox.address).where(
            Mailbox.person_id == person_id,
            func.lower(Mailbox.address).like(f"%@{domain.lower()}"),
        )
    )
    if existing is not None:
        return Ineligible(Refusal.HAS_MAILBOX, existing)
    person = await session.get(Person, person_id)
    assert person is not None
    statuses = set(
        await session.scalars(
            select(StudentRecord.status).where(StudentRecord.person_id == person_id)
        )
    )
    staff = person.role == Role.STAFF and profile.mail.staff_may_apply
    if not staff and not statuses & set(profile.mail.application_statuses):
        return Ineligible(Refusal.NOT_ALLOWED)
    if not person.notification_email:
        return Ineligible(Refusal.NO_ADDRESS)
    return None


async def names(session: AsyncSession, profile: Profile, person_id: int) -> list[str]:
    """The names the person may choose, from their passport English name, none taken."""
    person = await session.get(Person, person_id)
    assert person is not None
    domain = profile.accounts.mail_domain.lower()
    taken = {
        address.split("@")[0]
        for address in await session.scalars(
            select(func.lower(Mailbox.address)).where(
                func.lower(Mailbox.address).like(f"%@{domain}")
            )
        )
    }
    return free_names(person.name_en, taken)


async def create(
    session: AsyncSession, profile: Profile, person_id: int, name: str, *, now: dt.datetime
) -> NewMailbox | None:
    """Create the mailbox ``name``, or None when it is not (or no longer) free to choose.

    Its notifications go to the person's address on file until another is designated.
    """
    if name not in await names(session, profile, person_id):
        return None
    person = await session.get(Person, person_id)
    assert person is not None
    mailbox = Mailbox(
        person_id=person.id,
        address=f"{name}@{profile.accounts.mail_domain}",
        condition=MailboxCondition.PENDING,
        quota_used_kb=0,
        quota_limit_kb=profile.mail.default_quota_kb,
        notification_address=person.notification_email,
        created_at=now,
    )
    session.add(mailbox)
    await session.flush()
    return NewMailbox(
        id=mailbox.id,
        person_id=person.id,
        address=mailbox.address,
        quota_limit_kb=mailbox.quota_limit_kb,
        notification_address=mailbox.notification_address,
    )


async def designate(session: AsyncSession, mailbox_id: int, address: str) -> None:
    """Send the mailbox's notifications to ``address`` (already proven by a mailed code)."""
    mailbox = await session.get(Mailbox, mailbox_id)
    assert mailbox is not None
    mailbox.notification_address = address
