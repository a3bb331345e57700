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
from core import people
from core.card_applications import Decision, NotPending, UnknownCard, decide, listing
from core.i18n import N_, Translator
from core.mail import enqueue
from core.models import ChatIdentity, ChatNotice
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


async def _tell(services: Services, person_id: int, msgid: str, /, **params: object) -> None:
    """Tell the card's owner in each linked chat and by mail, in their chat's language."""
    async with services.sessions() as session, session.begin():
        now = services.clock.now()
        address = await people.notification_address(session, person_id)
        identities = (
            await session.scalars(select(ChatIdentity).where(ChatIdentity.person_id == person_id))
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
        if address:
            locale = next((i.locale for i in identities if i.locale), "zh_TW")
            t = Translator(locale)
            enqueue(
                session,
                to=address,
                now=now,
                subject=t._(
                    "{institution}: your alumni card",
                    institution=services.profile.display_name.get(locale),
                ),
                body=t._(msgid, **params),
            )


async def _decide(
    settings: Settings, card_id: int, decision: Decision, reason: str | None, years: int
) -> None:
    services = build_services(settings)
    try:
        try:
            async with services.sessions() as session, session.begin():
                card = await decide(
                    session,
                    cipher_of(services),
                    card_id,
                    decision,
                    years=years,
                    actor=actor(),
                    now=services.clock.now(),
                )
        except UnknownCard:
            raise fail(f"No card {card_id}.") from None
        except NotPending as exc:
            raise fail(f"Card {card_id} is {exc.status}, not pending.") from None
        # The catalogued msgids, so each owner reads the notice in their language.
        if decision is Decision.APPROVE:
            await _tell(services, card.person_id, APPROVED, card=card.card_id)
        elif decision is Decision.REJECT:
            await _tell(services, card.person_id, REJECTED, card=card.card_id, reason=reason or "-")
        else:
            await _tell(services, card.person_id, REVOKED, card=card.card_id)
        out.print(f"Card {card.card_id}: {card.status}")
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
                rows = await listing(session, pending=pending)
            table = Table("card", "name", "type", "status", "applied (Taiwan date)", "valid until")
            for card in rows:
                table.add_row(
                    str(card.card_id),
                    escape(f"{card.name_zh} {card.name_en}"),
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
    run(lambda: _decide(settings, card, Decision.APPROVE, None, years))


@card_app.command()
def reject(
    card: int, reason: Annotated[str, typer.Option("--reason", help="Told to the applicant.")]
) -> None:
    """Reject a pending application, saying why."""
    settings = _settings()
    run(lambda: _decide(settings, card, Decision.REJECT, reason, DEFAULT_YEARS))


@card_app.command()
def revoke(card: int) -> None:
    """Revoke a card (lost or stolen): its codes stop verifying at once."""
    settings = _settings()
    run(lambda: _decide(settings, card, Decision.REVOKE, None, DEFAULT_YEARS))
