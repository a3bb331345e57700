"""The alumni card as the chat shows it: QR image, caption, countdown.

Seed 003: the card shows a QR code that changes every few minutes with a countdown
("剩04:40 自動更新"). ``bot.card_refresh`` replaces the image in place when it changes.
"""

from __future__ import annotations

import datetime as dt

from bot.services import Services
from bot.types import Choice, Image
from core.cards import CardCipher, payload_for, render_png, render_terminal, seconds_left
from core.i18n import N_, Translator
from core.models import AlumniCard
from core.people import Names

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
    names: Names,
    *,
    locale: str,
    now: dt.datetime,
    key: str,
    choices: tuple[Choice, ...] = (),
) -> Image:
    """Render the card's current code as an image with its caption and countdown."""
    assert card.secret_encrypted is not None
    period = services.profile.card.refresh_seconds
    # The step's first code the verifier has not taken, so "Refresh now" after a scan
    # shows one it accepts.
    payload = payload_for(card, cipher_of(services), now=now, period=period)
    t = Translator(locale)
    left = seconds_left(now, period)
    name = names.in_language(locale)
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


def next_step_start(now: dt.datetime, period: int) -> dt.datetime:
    return now + dt.timedelta(seconds=seconds_left(now, period))
