"""Retention: personal data kept only as long as its purpose needs, then deleted.

Taiwan's Personal Data Protection Act (個人資料保護法, articles 5 and 11) lets an
institution keep personal data only within the purpose it was collected for, and
requires deleting it once that purpose or the stated period ends. Each kind below is
one purpose with its period from the profile's ``[retention]``; ``apply`` deletes what
is past it, and ``apply(..., dry_run=True)`` only counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import (
    AlumniApplication,
    ApplicationStatus,
    AuditEvent,
    CardView,
    Case,
    CaseMessage,
    CaseStatus,
    ChatNotice,
    ConversationState,
    MailStatus,
    MediaFile,
    OneTimeToken,
    OutboundMail,
    ProcessedDelivery,
    RateLimitCounter,
)
from core.profiles import Retention

# How often the background job applies the periods.
INTERVAL_SECONDS = 3600.0


@dataclass(frozen=True)
class Rule:
    """One table's rows that a period ends: ``where(now, periods)`` selects them."""

    kind: str
    table: type[Any]
    where: Callable[[dt.datetime, Retention], ColumnElement[bool]]


def _days(days: int) -> dt.timedelta:
    return dt.timedelta(days=days)


def _closed_case_past(now: dt.datetime, periods: Retention) -> ColumnElement[bool]:
    return (Case.status == CaseStatus.CLOSED) & (
        Case.closed_at < now - _days(periods.closed_cases_days)
    )


RULES = (
    Rule(
        "audit events",
        AuditEvent,
        lambda now, r: AuditEvent.at < now - _days(r.audit_events_days),
    ),
    Rule(
        "processed deliveries",
        ProcessedDelivery,
        lambda now, r: (
            ProcessedDelivery.processed_at < now - dt.timedelta(hours=r.processed_deliveries_hours)
        ),
    ),
    # A conversation untouched for days ended long ago (it times out within a day).
    Rule(
        "finished conversations",
        ConversationState,
        lambda now, r: ConversationState.updated_at < now - _days(r.conversations_days),
    ),
    Rule(
        "closed card views",
        CardView,
        lambda now, r: CardView.closes_at < now - _days(r.conversations_days),
    ),
    # A sent mail's body is emptied at once (core.mail); the rest goes after the period.
    Rule(
        "sent mail",
        OutboundMail,
        lambda now, r: (
            (OutboundMail.status.in_([MailStatus.SENT, MailStatus.FAILED]))
            & (
                func.coalesce(OutboundMail.sent_at, OutboundMail.created_at)
                < now - _days(r.sent_mail_days)
            )
        ),
    ),
    Rule(
        "delivered chat notices",
        ChatNotice,
        lambda now, r: ChatNotice.delivered_at < now - _days(r.sent_mail_days),
    ),
    Rule(
        "expired links and codes",
        OneTimeToken,
        lambda now, r: or_(
            OneTimeToken.expires_at < now - _days(r.expired_codes_days),
            OneTimeToken.used_at < now - _days(r.expired_codes_days),
        ),
    ),
    Rule(
        "expired rate-limit counters",
        RateLimitCounter,
        lambda now, _r: RateLimitCounter.expires_at <= now,
    ),
    Rule("expired media files", MediaFile, lambda now, _r: MediaFile.expires_at <= now),
    # A closed case's question and thread: its messages first, then the case (with its rating).
    Rule(
        "closed case messages",
        CaseMessage,
        lambda now, r: CaseMessage.case_id.in_(select(Case.id).where(_closed_case_past(now, r))),
    ),
    Rule("closed cases", Case, lambda now, r: _closed_case_past(now, r)),
    Rule(
        "decided applications",
        AlumniApplication,
        lambda now, r: (
            (AlumniApplication.status != ApplicationStatus.PENDING)
            & (AlumniApplication.decided_at < now - _days(r.decided_applications_days))
        ),
    ),
)


async def count(session: AsyncSession, now: dt.datetime, periods: Retention) -> dict[str, int]:
    """How many rows of each kind are past their period."""
    found: dict[str, int] = {}
    for rule in RULES:
        number = await session.scalar(
            select(func.count()).select_from(rule.table).where(rule.where(now, periods))
        )
        found[rule.kind] = int(number or 0)
    return found


async def apply(
    sessions: async_sessionmaker[AsyncSession],
    now: dt.datetime,
    periods: Retention,
    *,
    dry_run: bool = False,
) -> dict[str, int]:
    """Delete every row past its period (each kind in its own transaction); say how many.

    With ``dry_run`` nothing is deleted and the counts say what would go.
    """
    if dry_run:
        async with sessions() as session:
            return await count(session, now, periods)
    deleted: dict[str, int] = {}
    for rule in RULES:
        async with sessions() as session, session.begin():
            result = await session.execute(
                delete(rule.table)
                .where(rule.where(now, periods))
                .execution_options(synchronize_session=False)
            )
        deleted[rule.kind] = int(getattr(result, "rowcount", 0) or 0)
    return deleted
