"""The alumni card as the chat shows it: QR image, caption, countdown; refreshed in place.

Seed 003: the card shows a QR code that changes every few minutes with a countdown
("剩04:40 自動更新"). Each open card is a ``CardView`` row; due refreshes are claimed
with FOR UPDATE SKIP LOCKED, so with several workers each refresh happens once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from bot.services import Services
from bot.types import Choice, Edit, Image
from core.cards import (
    CardCipher,
    code_for,
    make_payload,
    render_png,
    render_terminal,
    seconds_left,
    step_at,
)
from core.i18n import N_, Translator
from core.models import AlumniCard, CardView, Person

# Seed 003: 申請類型 電子 (an electronic card); the demo directory says "digital".
CARD_TYPES = {
    "electronic": N_("Electronic alumni card"),
    "digital": N_("Electronic alumni card"),
    "plastic": N_("Plastic alumni card"),
}


def view_key(view_id: int) -> str:
    return f"card:{view_id}"


def cipher_of(services: Services) -> CardCipher:
    return CardCipher(services.settings.card_fernet_key)


def card_image(
    services: Services,
    card: AlumniCard,
    person: Person,
    *,
    locale: str,
    now: dt.datetime,
    key: str,
    choices: tuple[Choice, ...] = (),
) -> Image:
    """Render the card's current code as an image with its caption and countdown."""
    assert card.secret_encrypted is not None
    period = services.profile.card.refresh_seconds
    step = step_at(now, period)
    payload = make_payload(
        card.id, step, code_for(cipher_of(services).decrypt(card.secret_encrypted), step)
    )
    t = Translator(locale)
    left = seconds_left(now, period)
    name = person.name_zh if locale == "zh_TW" else person.name_en
    caption = "\n".join(
        [
            services.profile.display_name.get(locale),
            f"{name} · {t._(CARD_TYPES.get(card.card_type, CARD_TYPES['electronic']))}",
            t._(
                "Valid until {date}",
                date=card.valid_until.isoformat() if card.valid_until else "-",
            ),
            t._(
                "{minutes:02d}:{seconds:02d} left, refreshes automatically",
                minutes=left // 60,
                seconds=left % 60,
            ),
        ]
    )
    return Image(
        png=render_png(payload),
        caption=caption,
        key=key,
        terminal_art=render_terminal(payload),
        choices=choices,
    )


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
                person = await session.get(Person, card.person_id)
                assert person is not None
                image = card_image(
                    services, card, person, locale=view.locale, now=now, key=view_key(view.id)
                )
                out.append(Refresh(view.channel, view.chat_id, Edit(view_key(view.id), image)))
                view.refreshes += 1
                view.next_refresh_at = next_step_start(now, period)
        return out


def next_step_start(now: dt.datetime, period: int) -> dt.datetime:
    return now + dt.timedelta(seconds=seconds_left(now, period))
