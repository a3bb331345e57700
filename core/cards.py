"""Digital alumni card codes: issue, show as a QR code, verify (DESIGN.md flow 6, seed 003).

Seed 003 (NTU's 數位校友證) shows a QR code that renews itself every five minutes
("剩04:40 自動更新"). DESIGN.md's domain facts: pyotp 2.12 refuses TOTP intervals over
120 s, so a 300 s code is ``HOTP(secret, digits=8).at(int(time) // 300)`` (RFC 6238
with a 300 s step); a verifier accepts only the current and the previous step,
compares in constant time and never accepts a step at or below the last one it
accepted for that card. Each card's secret is encrypted at rest with Fernet.

A scanned code is spent, so the holder can replace it without waiting for the next
step (issue 15.8): "Refresh now" shows the step's next refresh, ``HDC1.<card id>.<step>.
<refresh>.<code>``, whose HOTP counter is ``step + refresh * 2**40``. Refreshes order
codes within a step, so the replay rule stays: never a (step, refresh) at or below the
last one accepted.

The QR payload is ``HDC1.<card id>.<step>.<code>`` (refresh 0) or with ``.<refresh>``
before the code: no personal data, and short (under 50 characters), all in QR's
alphanumeric set.
"""

from __future__ import annotations

import datetime as dt
import hmac
import io
import re
from dataclasses import dataclass
from enum import StrEnum

import pyotp
import qrcode
from cryptography.fernet import Fernet
from qrcode.constants import ERROR_CORRECT_M
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import AlumniCard, CardStatus, CardView, Person

PREFIX = "HDC1"
CODE_DIGITS = 8
SECRET_CHARS = 32  # base32: 5 bits a character, so 160 bits (RFC 4226's recommended size)
MAX_PAYLOAD = 64
MAX_REFRESH = 999  # codes a step can have after the first, each used once
_REFRESH_SHIFT = 40  # 2**40 steps of 300 s outlast any card; HOTP counters are 64-bit
_PAYLOAD = re.compile(
    rf"{PREFIX}\.([1-9][0-9]{{0,9}})\.([0-9]{{1,12}})(?:\.([1-9][0-9]{{0,2}}))?"
    rf"\.([0-9]{{{CODE_DIGITS}}})"
)


class CardCipher:
    """Encrypts card secrets at rest (Fernet: AES-128-CBC with HMAC-SHA256)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def encrypt(self, secret_b32: str) -> bytes:
        return self._fernet.encrypt(secret_b32.encode("ascii"))

    def decrypt(self, token: bytes) -> str:
        """The base32 secret; raises ``cryptography.fernet.InvalidToken`` on a bad token."""
        return self._fernet.decrypt(token).decode("ascii")


def new_secret() -> str:
    """A fresh base32 secret of 160 bits from ``secrets`` (via pyotp)."""
    return pyotp.random_base32(length=SECRET_CHARS)


# -- codes ------------------------------------------------------------------------------


def step_at(now: dt.datetime, period: int) -> int:
    """The RFC 6238 time step of ``now`` (DESIGN.md: ``int(time) // 300``)."""
    return int(now.timestamp()) // period


def seconds_left(now: dt.datetime, period: int) -> int:
    """Seconds until the next step, for seed 003's countdown ("剩04:40 自動更新")."""
    return period - int(now.timestamp()) % period


def code_for(secret_b32: str, step: int, refresh: int = 0) -> str:
    """The card's 8-digit code for ``step`` (HOTP, because pyotp's TOTP caps at 120 s)."""
    return pyotp.HOTP(secret_b32, digits=CODE_DIGITS).at(step + (refresh << _REFRESH_SHIFT))


def make_payload(card_id: int, step: int, code: str, refresh: int = 0) -> str:
    if refresh:
        return f"{PREFIX}.{card_id}.{step}.{refresh}.{code}"
    return f"{PREFIX}.{card_id}.{step}.{code}"


def parse_payload(text: str) -> tuple[int, int, str] | None:
    """``(card_id, step, code)`` from scanned text, or None when it is not one of ours."""
    parsed = parse_refreshed(text)
    if parsed is None or parsed[2]:
        return None
    card_id, step, _, code = parsed
    return card_id, step, code


def parse_refreshed(text: str) -> tuple[int, int, int, str] | None:
    """``(card_id, step, refresh, code)`` from scanned text, or None when not ours."""
    if len(text) > 1024:
        return None
    match = _PAYLOAD.fullmatch(text.strip())
    if match is None:
        return None
    card_id, step, refresh, code = match.groups()
    return int(card_id), int(step), int(refresh or 0), code


def next_refresh(card: AlumniCard, step: int) -> int:
    """The first refresh of ``step`` the verifier has not accepted yet."""
    if card.last_accepted_step != step:
        return 0
    return min(card.last_accepted_refresh + 1, MAX_REFRESH)


def payload_for(card: AlumniCard, cipher: CardCipher, *, now: dt.datetime, period: int) -> str:
    """The payload an active card shows at ``now``: its step's first unused code."""
    if card.secret_encrypted is None:
        raise ValueError("the card has no secret; activate it first")
    step = step_at(now, period)
    refresh = next_refresh(card, step)
    secret = cipher.decrypt(card.secret_encrypted)
    return make_payload(card.id, step, code_for(secret, step, refresh), refresh)


# -- rendering (DESIGN.md: qrcode with Pillow renders a 60-character payload in ~11 ms) --


def _qr(payload: str, box_size: int = 8) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=4)
    qr.add_data(payload)
    qr.make(fit=True)
    return qr


def render_png(payload: str) -> bytes:
    buffer = io.BytesIO()
    _qr(payload).make_image().save(buffer, format="PNG")
    return buffer.getvalue()


def render_terminal(payload: str) -> str:
    """The QR code in half blocks for a terminal (the console adapter)."""
    buffer = io.StringIO()
    _qr(payload).print_ascii(out=buffer)
    return buffer.getvalue()


# -- issuing -----------------------------------------------------------------------------


async def issue_card(
    session: AsyncSession,
    cipher: CardCipher,
    *,
    person_id: int,
    card_type: str,
    valid_until: dt.date,
    now: dt.datetime,
) -> AlumniCard:
    """Add an active card with a new encrypted secret; flushed, so it has its id."""
    card = AlumniCard(
        person_id=person_id,
        card_type=card_type,
        status=CardStatus.ACTIVE,
        secret_encrypted=cipher.encrypt(new_secret()),
        valid_until=valid_until,
        last_accepted_step=0,
        applied_at=now,
        decided_at=now,
    )
    session.add(card)
    await session.flush()
    return card


def activate(
    card: AlumniCard, cipher: CardCipher, *, valid_until: dt.date, now: dt.datetime
) -> None:
    """Approve a pending application (seed 003: staff review), giving it a new secret.

    Also gives a secret to an active card that has none (the demo directory's cards).
    A rejected or revoked card is not brought back this way.
    """
    if card.status == CardStatus.ACTIVE and card.secret_encrypted is not None:
        raise ValueError("the card is already active")
    if card.status not in (CardStatus.PENDING, CardStatus.ACTIVE):
        raise ValueError(f"a {card.status} card cannot be activated")
    card.secret_encrypted = cipher.encrypt(new_secret())
    card.status = CardStatus.ACTIVE
    card.valid_until = valid_until
    card.last_accepted_step = 0
    card.last_accepted_refresh = 0
    card.decided_at = now


# -- verifying ---------------------------------------------------------------------------


class Verdict(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    REPLAYED = "replayed"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Verification:
    """A verifier's answer; names and card details only when VALID."""

    verdict: Verdict
    name_zh: str | None = None
    name_en: str | None = None
    card_type: str | None = None
    valid_until: dt.date | None = None
    card_id: int | None = None  # for the audit row; None when no card matched


async def verify(
    session: AsyncSession,
    cipher: CardCipher,
    payload: str,
    *,
    now: dt.datetime,
    period: int,
    today: dt.date | None = None,
) -> Verification:
    """Check a scanned payload and, when VALID, spend its step (caller commits).

    ``today`` is the institution's date (Asia/Taipei) for ``valid_until``; it
    defaults to ``now.date()``. The code is checked before anything else is said
    about the card, so a forged payload learns only UNKNOWN (a revoked card whose
    secret was removed answers REVOKED).
    """
    parsed = parse_refreshed(payload)
    if parsed is None:
        return Verification(Verdict.UNKNOWN)
    card_id, step, refresh, code = parsed
    # A row lock on PostgreSQL (SQLite's BEGIN IMMEDIATE serialises instead): two
    # scans of one code race safely, and only one of them is VALID.
    card = await session.scalar(
        select(AlumniCard)
        .where(AlumniCard.id == card_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if card is None:
        return Verification(Verdict.UNKNOWN)
    if card.secret_encrypted is None:
        revoked = card.status == CardStatus.REVOKED
        return Verification(Verdict.REVOKED if revoked else Verdict.UNKNOWN, card_id=card.id)
    # DESIGN.md: compare in constant time.
    expected = code_for(cipher.decrypt(card.secret_encrypted), step, refresh)
    if not hmac.compare_digest(expected.encode(), code.encode()):
        return Verification(Verdict.UNKNOWN)
    if card.status == CardStatus.REVOKED:
        return Verification(Verdict.REVOKED, card_id=card.id)
    if card.status != CardStatus.ACTIVE:
        return Verification(Verdict.UNKNOWN, card_id=card.id)
    if card.valid_until is not None and card.valid_until < (today or now.date()):
        return Verification(Verdict.EXPIRED, card_id=card.id)
    current = step_at(now, period)
    if step > current:
        return Verification(Verdict.UNKNOWN, card_id=card.id)
    # DESIGN.md: only the current and the previous step.
    if step < current - 1:
        return Verification(Verdict.EXPIRED, card_id=card.id)
    # DESIGN.md: never a step at or below the last one accepted for this card; within
    # a step, never a refresh at or below the last one accepted.
    if (step, refresh) <= (card.last_accepted_step, card.last_accepted_refresh):
        return Verification(Verdict.REPLAYED, card_id=card.id)
    card.last_accepted_step = step
    card.last_accepted_refresh = refresh
    # The code is spent: every chat showing the card gets the next one at once.
    await session.execute(
        update(CardView)
        .where(CardView.card_id == card.id, CardView.closed_at.is_(None))
        .values(next_refresh_at=now)
    )
    await session.flush()
    person = await session.get(Person, card.person_id)
    return Verification(
        Verdict.VALID,
        name_zh=person.name_zh if person is not None else None,
        name_en=person.name_en if person is not None else None,
        card_type=card.card_type,
        valid_until=card.valid_until,
        card_id=card.id,
    )
