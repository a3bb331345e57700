"""``helpdesk card list|approve|reject|revoke``: staff decisions on alumni cards (seed 003)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from bot.card_images import cipher_of
from bot.cli.common import (
    actor,
    fail,
    load_settings,
    out,
    require_database,
    run,
    taiwan_date,
)
from bot.services import Services, build_services
from core import audit
from core.cards import activate
from core.i18n import N_, Translator
from core.mail import enqueue
from core.models import AlumniCard, CardStatus, ChatIdentity, ChatNotice, Person
from core.settings import Settings

card_app = typer.Typer(help="Alumni cards: review applications, revoke lost cards.")

DEFAULT_YEARS = 5
APPROVED = N_(
    'Your electronic alumni card {card} is approved. Choose "My alumni card" in the menu '
    "to show it."
)
REJECTED = N_("Your application for an alumni card ({card}) was not approved. Reason: {reason}")
REVOKED = N_(
    "Your alumni card {card} was revoked and no longer works. If you did not ask for this, "
    "contact the alumni centre."
)


def _settings() -> Settings:
    settings = load_settings()
    require_database(settings)
    return settings


async def _tell(services: Services, subject: AlumniCard, msgid: str, /, **params: object) -> None:
    """Tell the card's owner in each linked chat and by mail, in their chat's language."""
    async with services.sessions() as session, session.begin():
        now = services.clock.now()
        person = await session.get(Person, subject.person_id)
        identities = (
            await session.scalars(
                select(ChatIdentity).where(ChatIdentity.person_id == subject.person_id)
            )
        ).all()
        for identity in identities:
            text = Translator(identity.locale or "zh_TW")._(msgid, **params)
            session.add(
                ChatNotice(
                    channel=identity.channel,
                    chat_id=identity.platform_user_id,
                    text=text,
                    created_at=now,
                )
            )
        if person is not None and person.notification_email:
            locale = next((i.locale for i in identities if i.locale), "zh_TW")
            t = Translator(locale)
            enqueue(
                session,
                to=person.notification_email,
                now=now,
                subject=t._(
                    "{institution}: your alumni card",
                    institution=services.profile.display_name.get(locale),
                ),
                body=t._(msgid, **params),
            )


async def _decide(
    settings: Settings, card_id: int, action: str, reason: str | None, years: int
) -> None:
    services = build_services(settings)
    try:
        async with services.sessions() as session, session.begin():
            card = await session.get(AlumniCard, card_id, with_for_update=True)
            if card is None:
                raise fail(f"No card {card_id}.")
            now = services.clock.now()
            if action in ("approve", "reject") and card.status != CardStatus.PENDING:
                raise fail(f"Card {card_id} is {card.status}, not pending.")
            if action == "approve":
                valid_until = now.date().replace(year=now.date().year + years)
                activate(card, cipher_of(services), valid_until=valid_until, now=now)
            elif action == "reject":
                card.status = CardStatus.REJECTED
                card.decided_at = now
            else:
                card.status = CardStatus.REVOKED
                card.decided_at = now
            audit.record(
                session,
                at=now,
                channel="cli",
                actor=actor(),
                flow="card_admin",
                action=action,
                outcome="done",
                card=card.id,
            )
        # The catalogued msgids, so each owner reads the notice in their language.
        if action == "approve":
            await _tell(services, card, APPROVED, card=card.id)
        elif action == "reject":
            await _tell(services, card, REJECTED, card=card.id, reason=reason or "-")
        else:
            await _tell(services, card, REVOKED, card=card.id)
        out.print(f"Card {card.id}: {card.status}")
    finally:
        await services.close()


@card_app.command("list")
def list_cards(pending: Annotated[bool, typer.Option("--pending")] = False) -> None:
    """List cards (only applications waiting for review with --pending)."""

    settings = _settings()

    async def main() -> None:
        services = build_services(settings)
        try:
            async with services.sessions() as session:
                query = select(AlumniCard, Person).join(Person, AlumniCard.person_id == Person.id)
                if pending:
                    query = query.where(AlumniCard.status == CardStatus.PENDING)
                rows = (await session.execute(query.order_by(AlumniCard.id))).all()
            table = Table("card", "name", "type", "status", "applied (Taiwan date)", "valid until")
            for card, person in rows:
                table.add_row(
                    str(card.id),
                    escape(f"{person.name_zh} {person.name_en}"),
                    escape(card.card_type),
                    card.status,
                    taiwan_date(card.applied_at),
                    card.valid_until.isoformat() if card.valid_until else "-",
                )
            out.print(table)
        finally:
            await services.close()

    run(main)


@card_app.command()
def approve(
    card: int,
    years: Annotated[int, typer.Option(help="Years the card is valid.")] = DEFAULT_YEARS,
) -> None:
    """Approve a pending application: the card becomes active and its owner is told."""
    settings = _settings()
    run(lambda: _decide(settings, card, "approve", None, years))


@card_app.command()
def reject(
    card: int, reason: Annotated[str, typer.Option("--reason", help="Told to the applicant.")]
) -> None:
    """Reject a pending application, saying why."""
    settings = _settings()
    run(lambda: _decide(settings, card, "reject", reason, DEFAULT_YEARS))


@card_app.command()
def revoke(card: int) -> None:
    """Revoke a card (lost or stolen): its codes stop verifying at once."""
    settings = _settings()
    run(lambda: _decide(settings, card, "revoke", None, DEFAULT_YEARS))
