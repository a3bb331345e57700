"""The job that replaces open alumni cards' images in place when their code changes.

Each open card is a ``CardView`` row; due refreshes are claimed with FOR UPDATE SKIP
LOCKED, so with several workers each refresh happens once. A card past its open time
(or no longer active) is closed with a short notice instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bot.card_images import card_image, next_step_start, view_key
from bot.services import Services
from bot.types import Edit
from core import people
from core.i18n import Translator
from core.models import AlumniCard, CardView


@dataclass(frozen=True, slots=True)
class Refresh:
    """One in-place update for a chat: the new image, or None when the card closed."""

    channel: str
    chat_id: str
    edit: Edit | None
    closed_text: str | None = None


class CardRefresher:
    """Claims the open cards whose code changes now and renders their new images."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def run_once(self, *, channel: str | None = None, batch: int = 50) -> list[Refresh]:
        """Refresh what is due now (of one channel's adapter, if given)."""
        services = self.services
        period = services.profile.card.refresh_seconds
        out: list[Refresh] = []
        async with services.sessions() as session, session.begin():
            now = services.clock.now()
            due = select(CardView).where(
                CardView.closed_at.is_(None), CardView.next_refresh_at <= now
            )
            if channel is not None:
                due = due.where(CardView.channel == channel)
            views = (
                await session.scalars(
                    due.order_by(CardView.next_refresh_at)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for view in views:
                card = await session.get(AlumniCard, view.card_id)
                if now >= view.closes_at or card is None or card.status != "active":
                    view.closed_at = now
                    t = Translator(view.locale)
                    out.append(
                        Refresh(
                            view.channel,
                            view.chat_id,
                            None,
                            t._("The alumni card was closed. Ask for it again to show it."),
                        )
                    )
                    continue
                names = await people.names(session, card.person_id)
                assert names is not None
                image = card_image(
                    services, card, names, locale=view.locale, now=now, key=view_key(view.id)
                )
                out.append(Refresh(view.channel, view.chat_id, Edit(view_key(view.id), image)))
                view.refreshes += 1
                view.next_refresh_at = next_step_start(now, period)
        return out
