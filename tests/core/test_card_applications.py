"""Applying for an alumni card and the staff's decisions on it, as plain values."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.card_images import cipher_of
from bot.services import Services
from core.card_applications import (
    Decided,
    Decision,
    NotPending,
    UnknownCard,
    apply,
    decide,
    listing,
)
from core.cards import Verdict, payload_for, verify
from core.models import AlumniCard, AuditEvent
from tests.factories import add_wang, issue_electronic_card


async def _apply(services: Services, person_id: int) -> int:
    async with services.sessions() as session, session.begin():
        return await apply(session, person_id, card_type="electronic", now=services.clock.now())


async def _decide(services: Services, card_id: int, decision: Decision) -> object:
    async with services.sessions() as session, session.begin():
        return await decide(
            session,
            cipher_of(services),
            card_id,
            decision,
            years=5,
            actor="staff-chen",
            now=services.clock.now(),
        )


async def test_an_approved_application_is_listed_with_its_holder_and_its_code_verifies(
    services: Services,
) -> None:
    wang = await add_wang(services)
    card_id = await _apply(services, wang.id)
    async with services.sessions() as session:
        (row,) = await listing(session, pending=True)
    assert (row.card_id, row.name_zh, row.name_en, row.status) == (
        card_id,
        "王大同",
        "Wang Da-Tong",
        "pending",
    )

    decided = await _decide(services, card_id, Decision.APPROVE)
    now = services.clock.now()
    assert decided == Decided(card_id, wang.id, "active")
    async with services.sessions() as session, session.begin():
        assert await listing(session, pending=True) == []
        (row,) = await listing(session)
        assert row.valid_until == now.date().replace(year=now.date().year + 5)
        card = await session.get(AlumniCard, card_id)
        assert card is not None
        period = services.profile.card.refresh_seconds
        payload = payload_for(card, cipher_of(services), now=now, period=period)
        checked = await verify(session, cipher_of(services), payload, now=now, period=period)
    assert (checked.verdict, checked.name_en) == (Verdict.VALID, "Wang Da-Tong")


async def test_only_a_pending_application_can_be_rejected_and_nothing_changes_otherwise(
    services: Services,
) -> None:
    wang = await add_wang(services)
    card_id = await issue_electronic_card(services, wang.id)
    with pytest.raises(NotPending) as raised:
        await _decide(services, card_id, Decision.REJECT)
    assert raised.value.status == "active"
    async with services.sessions() as session:
        (row,) = await listing(session)
        audited = list(await session.scalars(select(AuditEvent.action)))
    assert row.status == "active"
    assert "reject" not in audited


async def test_a_revoked_card_stops_verifying_and_the_decision_is_audited(
    services: Services,
) -> None:
    wang = await add_wang(services)
    card_id = await issue_electronic_card(services, wang.id)
    now = services.clock.now()
    period = services.profile.card.refresh_seconds
    async with services.sessions() as session:
        card = await session.get(AlumniCard, card_id)
        assert card is not None
        payload = payload_for(card, cipher_of(services), now=now, period=period)

    await _decide(services, card_id, Decision.REVOKE)

    async with services.sessions() as session, session.begin():
        checked = await verify(session, cipher_of(services), payload, now=now, period=period)
        event = await session.scalar(select(AuditEvent).where(AuditEvent.flow == "card_admin"))
    assert checked.verdict is Verdict.REVOKED
    assert event is not None
    assert (event.actor, event.action, event.detail) == ("staff-chen", "revoke", {"card": card_id})


async def test_an_unknown_card_number_is_refused(services: Services) -> None:
    with pytest.raises(UnknownCard):
        await _decide(services, 404, Decision.REVOKE)
