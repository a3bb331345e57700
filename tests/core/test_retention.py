"""Retention: each kind of personal data goes after its profile period, and only then."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from bot.services import Services
from core import audit, retention
from core.clock import FakeClock
from core.mail import enqueue
from core.models import (
    AuditEvent,
    ConversationState,
    MailStatus,
    OneTimeToken,
    OutboundMail,
    ProcessedDelivery,
)
from core.profiles import Retention


async def _rows(services: Services, model: type[object]) -> int:
    async with services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _fill(services: Services, at: dt.datetime) -> None:
    """One row of each kind, written at ``at``."""
    async with services.sessions() as session, session.begin():
        audit.record(
            session, at=at, channel="test", actor="x", flow="link", action="link", outcome="linked"
        )
        session.add(ProcessedDelivery(channel="test", delivery_id=f"d{at}", processed_at=at))
        session.add(
            ConversationState(
                channel="test", chat_id=f"c{at}", data={}, nonce="n", version=1, updated_at=at
            )
        )
        mail = enqueue(session, to="a@example.org", subject="s", body="", now=at)
        mail.status, mail.sent_at = MailStatus.SENT, at
        session.add(
            OneTimeToken(
                token_hash=f"{at:%s}".rjust(64, "0"),
                purpose="reset",
                subject="s",
                data={},
                expires_at=at + dt.timedelta(minutes=15),
                created_at=at,
            )
        )


async def test_rows_past_their_period_go_and_recent_ones_stay(
    services: Services, clock: FakeClock
) -> None:
    now = clock.now()
    await _fill(services, now - dt.timedelta(days=400))
    await _fill(services, now - dt.timedelta(hours=1))
    deleted = await retention.apply(services.sessions, now, Retention())
    assert deleted["audit events"] == 1
    assert deleted["processed deliveries"] == 1
    assert deleted["finished conversations"] == 1
    assert deleted["sent mail"] == 1
    assert deleted["expired links and codes"] == 1
    for model in (AuditEvent, ProcessedDelivery, ConversationState, OutboundMail, OneTimeToken):
        assert await _rows(services, model) == 1, model


async def test_each_period_comes_from_the_profile(services: Services, clock: FakeClock) -> None:
    now = clock.now()
    await _fill(services, now - dt.timedelta(days=40))
    short = Retention(audit_events_days=30, sent_mail_days=60, conversations_days=60)
    deleted = await retention.apply(services.sessions, now, short)
    assert deleted["audit events"] == 1
    assert deleted["sent mail"] == 0 and deleted["finished conversations"] == 0


async def test_a_queued_mail_is_never_deleted_however_old(
    services: Services, clock: FakeClock
) -> None:
    async with services.sessions() as session, session.begin():
        enqueue(session, to="a@example.org", subject="s", body="link", now=clock.now())
    clock.advance(days=400)
    await retention.apply(services.sessions, clock.now(), Retention())
    assert await _rows(services, OutboundMail) == 1


async def test_a_dry_run_counts_and_deletes_nothing(services: Services, clock: FakeClock) -> None:
    await _fill(services, clock.now() - dt.timedelta(days=400))
    counted = await retention.apply(services.sessions, clock.now(), Retention(), dry_run=True)
    assert counted["audit events"] == 1 and counted["sent mail"] == 1
    assert await _rows(services, AuditEvent) == 1
