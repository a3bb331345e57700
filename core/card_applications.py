"""Applying for an alumni card and the staff's decisions on it (seed 003: 首次申請, review).

An alumnus applies in chat (a pending card); staff approve it (it becomes active with a
new secret), reject it, or revoke an active card. Each decision is audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.cards import CardCipher, activate
from core.errors import HelpdeskError
from core.models import AlumniCard, CardStatus, Person


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REVOKE = "revoke"


class UnknownCard(HelpdeskError):
    """No card has that number."""


class NotPending(HelpdeskError):
    """Only an application waiting for review can be approved or rejected."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True, slots=True)
class Decided:
    """A card after a decision: whose it is and what it is now."""

    card_id: int
    person_id: int
    status: str


@dataclass(frozen=True, slots=True)
class CardRow:
    """A card as staff list it, with its holder's names."""

    card_id: int
    name_zh: str
    name_en: str
    card_type: str
    status: str
    applied_at: dt.datetime
    valid_until: dt.date | None


async def apply(session: AsyncSession, person_id: int, *, card_type: str, now: dt.datetime) -> int:
    """Add a pending application for review; its card number."""
    card = AlumniCard(
        person_id=person_id, card_type=card_type, status=CardStatus.PENDING, applied_at=now
    )
    session.add(card)
    await session.flush()
    return card.id


async def decide(
    session: AsyncSession,
    cipher: CardCipher,
    card_id: int,
    decision: Decision,
    *,
    years: int,
    actor: str,
    now: dt.datetime,
) -> Decided:
    """Approve (valid for ``years``), reject or revoke a card, audited as ``actor``."""
    card = await session.get(AlumniCard, card_id, with_for_update=True)
    if card is None:
        raise UnknownCard(card_id)
    if decision in (Decision.APPROVE, Decision.REJECT) and card.status != CardStatus.PENDING:
        raise NotPending(card.status)
    if decision is Decision.APPROVE:
        valid_until = now.date().replace(year=now.date().year + years)
        activate(card, cipher, valid_until=valid_until, now=now)
    else:
        card.status = CardStatus.REJECTED if decision is Decision.REJECT else CardStatus.REVOKED
        card.decided_at = now
    audit.record(
        session,
        at=now,
        channel="cli",
        actor=actor,
        flow="card_admin",
        action=decision.value,
        outcome="done",
        card=card.id,
    )
    return Decided(card.id, card.person_id, card.status)


async def listing(session: AsyncSession, *, pending: bool = False) -> list[CardRow]:
    """Every card in number order (only those waiting for review with ``pending``)."""
    query = select(AlumniCard, Person).join(Person, AlumniCard.person_id == Person.id)
    if pending:
        query = query.where(AlumniCard.status == CardStatus.PENDING)
    rows = (await session.execute(query.order_by(AlumniCard.id))).all()
    return [
        CardRow(
            card_id=card.id,
            name_zh=person.name_zh,
            name_en=person.name_en,
            card_type=card.card_type,
            status=card.status,
            applied_at=card.applied_at,
            valid_until=card.valid_until,
        )
        for card, person in rows
    ]
