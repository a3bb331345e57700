"""Chat notices: messages for a chat outside any turn, delivered once by its adapter.

Besides what flows and staff commands write, the background loop queues one reminder
before a password expires under the profile's maximum age (issue 15.4): to every chat
linked to the account's owner, in that chat's language, once per password.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.i18n import DEFAULT_LOCALE, Translator
from core.models import Account, ChatIdentity, ChatNotice
from core.profiles import Profile

# How many days before a password expires its owner is reminded in chat; mailbox
# status warns within the same days.
EXPIRY_REMINDER_DAYS = 14


async def take_pending(
    sessions: async_sessionmaker[AsyncSession],
    *,
    channel: str,
    now: dt.datetime,
    chat_id: str | None = None,
    limit: int = 50,
) -> list[ChatNotice]:
    """Claim undelivered notices of a channel (SKIP LOCKED) and mark them delivered."""
    async with sessions() as session, session.begin():
        query = select(ChatNotice).where(
            ChatNotice.channel == channel, ChatNotice.delivered_at.is_(None)
        )
        if chat_id is not None:
            query = query.where(ChatNotice.chat_id == chat_id)
        rows = (
            await session.scalars(
                query.order_by(ChatNotice.id).limit(limit).with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            row.delivered_at = now
        return list(rows)


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


async def queue_expiry_reminders(
    sessions: async_sessionmaker[AsyncSession],
    *,
    profile: Profile,
    now: dt.datetime,
    days: int = EXPIRY_REMINDER_DAYS,
    limit: int = 200,
) -> int:
    """Queue a chat reminder for each password expiring within ``days``; returns how many.

    An account is reminded once per password: ``expiry_reminded_at`` before the last
    change means the reminder was for an earlier password. Rows are claimed with SKIP
    LOCKED, so every adapter's loop may call this at once.
    """
    max_age = profile.password_policy.max_age_days
    if max_age is None:
        return 0
    expires_after = now - dt.timedelta(days=max_age)
    due_before = expires_after + dt.timedelta(days=min(days, max_age))
    queued = 0
    async with sessions() as session, session.begin():
        accounts = (
            await session.scalars(
                select(Account)
                .where(
                    Account.must_change.is_(False),  # shown as a required change instead
                    Account.password_changed_at > expires_after,
                    Account.password_changed_at <= due_before,
                    or_(
                        Account.expiry_reminded_at.is_(None),
                        Account.expiry_reminded_at < Account.password_changed_at,
                    ),
                )
                .order_by(Account.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for account in accounts:
            account.expiry_reminded_at = now
            expires = _aware(account.password_changed_at) + dt.timedelta(days=max_age)
            left = max((expires - now).days, 1)
            identities = await session.scalars(
                select(ChatIdentity).where(ChatIdentity.person_id == account.person_id)
            )
            for identity in identities:
                text = Translator(identity.locale or DEFAULT_LOCALE).ngettext(
                    "Reminder: the password of {account} expires on {date}, in {n} day. "
                    'Choose "Change my password" in the menu to set a new one before then.',
                    "Reminder: the password of {account} expires on {date}, in {n} days. "
                    'Choose "Change my password" in the menu to set a new one before then.',
                    left,
                    account=account.username,
                    date=expires.astimezone(profile.zone).date().isoformat(),
                )
                session.add(
                    ChatNotice(
                        channel=identity.channel,
                        chat_id=identity.platform_user_id,
                        text=text,
                        created_at=now,
                    )
                )
                queued += 1
    return queued
