"""Alumni card codes (DESIGN.md flow 6, seed 003): steps, replays, encryption, QR."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import os

import pytest
from cryptography.fernet import Fernet, InvalidToken
from PIL import Image
from pyzbar.pyzbar import decode
from sqlalchemy import select

from bot.services import Services
from core.cards import (
    PREFIX,
    CardCipher,
    Verdict,
    Verification,
    activate,
    code_for,
    issue_card,
    make_payload,
    new_secret,
    parse_payload,
    payload_for,
    render_png,
    render_terminal,
    seconds_left,
    step_at,
    verify,
)
from core.clock import FakeClock
from core.models import AlumniCard, CardStatus
from core.settings import Settings
from tests.factories import add_student

PERIOD = 300
FAR = dt.date(2030, 12, 31)


@pytest.fixture
def cipher(services: Services) -> CardCipher:
    return CardCipher(services.settings.card_fernet_key)


async def _card(
    services: Services, cipher: CardCipher, *, valid_until: dt.date = FAR
) -> tuple[int, str]:
    """An active card of 林明志; returns its id and clear secret."""
    person = await add_student(
        services, id_number="F131104093", birthday=dt.date(1996, 1, 2), student_id="109205003"
    )
    async with services.sessions() as session, session.begin():
        card = await issue_card(
            session,
            cipher,
            person_id=person.id,
            card_type="electronic",
            valid_until=valid_until,
            now=services.clock.now(),
        )
        assert card.secret_encrypted is not None
        return card.id, cipher.decrypt(card.secret_encrypted)


def _payload(card_id: int, secret: str, step: int) -> str:
    return make_payload(card_id, step, code_for(secret, step))


def _now_payload(services: Services, card_id: int, secret: str) -> str:
    return _payload(card_id, secret, step_at(services.clock.now(), PERIOD))


async def _verify(
    services: Services, cipher: CardCipher, payload: str, *, today: dt.date | None = None
) -> Verification:
    async with services.sessions() as session, session.begin():
        return await verify(
            session, cipher, payload, now=services.clock.now(), period=PERIOD, today=today
        )


async def _set(services: Services, card_id: int, **values: object) -> None:
    async with services.sessions() as session, session.begin():
        card = await session.get(AlumniCard, card_id)
        assert card is not None
        for name, value in values.items():
            setattr(card, name, value)


# -- codes -------------------------------------------------------------------------------


def test_the_code_is_rfc_6238_with_the_cards_step() -> None:
    # RFC 6238 appendix B, SHA-1, T=59 s with a 30 s step (step 1): 94287082.
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert code_for(secret, 1) == "94287082"
    start = dt.datetime(2026, 9, 1, 3, 0, tzinfo=dt.UTC)
    assert step_at(start + dt.timedelta(seconds=299), PERIOD) == step_at(start, PERIOD)
    assert step_at(start + dt.timedelta(seconds=300), PERIOD) == step_at(start, PERIOD) + 1


def test_the_countdown_reads_like_seed_003() -> None:
    start = dt.datetime(2026, 9, 1, 3, 0, tzinfo=dt.UTC)
    left = seconds_left(start + dt.timedelta(seconds=20), PERIOD)
    assert f"剩{left // 60:02d}:{left % 60:02d}" == "剩04:40"
    assert seconds_left(start, PERIOD) == PERIOD


def test_new_secrets_have_160_bits_and_differ() -> None:
    secrets_ = {new_secret() for _ in range(20)}
    assert len(secrets_) == 20
    for secret in secrets_:
        assert len(base64.b32decode(secret)) * 8 >= 160


def test_payloads_are_short_round_trip_and_tolerate_surrounding_whitespace() -> None:
    payload = make_payload(2_147_483_647, 999_999_999_999, "01234567")
    assert payload.startswith(PREFIX + ".") and len(payload) < 60
    assert parse_payload(f"  {payload}\r\n") == (2_147_483_647, 999_999_999_999, "01234567")


MALFORMED = [
    "",
    "   ",
    "HDC1",
    "HDC1.1.2",
    "HDC2.1.5929200.12345678",
    "hdc1.1.5929200.12345678",
    "HDC1.1.5929200.1234567",
    "HDC1.1.5929200.123456789",
    "HDC1.1.5929200.12345678.9",
    "HDC1.x.5929200.12345678",
    "HDC1.0.5929200.12345678",
    "HDC1.01.5929200.12345678",
    "HDC1.1.-5929200.12345678",
    "HDC1.１.5929200.12345678",  # full-width digit
    "HDC1.1.5929200.1234567٨",  # Arabic-Indic digit
    "HDC1.1.5929200.1234\u200b5678",  # zero-width space
    "HDC1.1.5929200.12345678\x00",
    "HDC1.1.5929200.🎓🎓🎓🎓",
    "HDC1.1.5929200.12345678" + " " * 2000,
    "HDC1." + "9" * 5000 + ".1.12345678",
    "x" * 100_000,
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_payloads_do_not_parse(text: str) -> None:
    assert parse_payload(text) is None


# -- verifying across step boundaries ----------------------------------------------------


async def test_the_current_step_is_valid_with_the_holders_name(
    services: Services, cipher: CardCipher
) -> None:
    card_id, secret = await _card(services, cipher)
    result = await _verify(services, cipher, _now_payload(services, card_id, secret))
    assert result == Verification(
        Verdict.VALID, "林明志", "Lin Ming-Zhi", "electronic", FAR, card_id=card_id
    )


async def test_the_previous_step_is_valid_just_after_the_boundary(
    services: Services, cipher: CardCipher, clock: FakeClock
) -> None:
    card_id, secret = await _card(services, cipher)
    clock.advance(seconds=299)  # the last second of the step the code was shown in
    payload = _now_payload(services, card_id, secret)
    clock.advance(seconds=2)  # the next step has begun
    assert (await _verify(services, cipher, payload)).verdict is Verdict.VALID


async def test_a_code_two_steps_old_is_expired(
    services: Services, cipher: CardCipher, clock: FakeClock
) -> None:
    card_id, secret = await _card(services, cipher)
    payload = _now_payload(services, card_id, secret)
    clock.advance(seconds=2 * PERIOD)
    assert (await _verify(services, cipher, payload)).verdict is Verdict.EXPIRED


async def test_a_future_step_is_unknown(services: Services, cipher: CardCipher) -> None:
    card_id, secret = await _card(services, cipher)
    step = step_at(services.clock.now(), PERIOD)
    future = _payload(card_id, secret, step + 1)
    assert (await _verify(services, cipher, future)).verdict is Verdict.UNKNOWN


async def test_the_same_payload_twice_is_a_replay(services: Services, cipher: CardCipher) -> None:
    card_id, secret = await _card(services, cipher)
    payload = _now_payload(services, card_id, secret)
    first = await _verify(services, cipher, payload)
    second = await _verify(services, cipher, payload)
    assert (first.verdict, second.verdict) == (Verdict.VALID, Verdict.REPLAYED)
    assert second.name_zh is None and second.name_en is None and second.valid_until is None


async def test_an_older_step_after_a_newer_one_was_accepted_is_a_replay(
    services: Services, cipher: CardCipher, clock: FakeClock
) -> None:
    card_id, secret = await _card(services, cipher)
    older = _now_payload(services, card_id, secret)
    clock.advance(seconds=PERIOD)
    newer = _now_payload(services, card_id, secret)
    assert (await _verify(services, cipher, newer)).verdict is Verdict.VALID
    assert (await _verify(services, cipher, older)).verdict is Verdict.REPLAYED


async def test_the_next_step_is_accepted_after_the_previous_one(
    services: Services, cipher: CardCipher, clock: FakeClock
) -> None:
    card_id, secret = await _card(services, cipher)
    assert (
        await _verify(services, cipher, _now_payload(services, card_id, secret))
    ).verdict is Verdict.VALID
    clock.advance(seconds=PERIOD)
    assert (
        await _verify(services, cipher, _now_payload(services, card_id, secret))
    ).verdict is Verdict.VALID


async def test_a_later_refresh_of_the_step_is_accepted_once_and_an_earlier_one_never(
    services: Services, cipher: CardCipher
) -> None:
    card_id, secret = await _card(services, cipher)
    step = step_at(services.clock.now(), PERIOD)

    async def shown() -> str:
        async with services.sessions() as session:
            card = await session.get(AlumniCard, card_id)
            assert card is not None
            return payload_for(card, cipher, now=services.clock.now(), period=PERIOD)

    first = await shown()
    assert first == _payload(card_id, secret, step)
    assert (await _verify(services, cipher, first)).verdict is Verdict.VALID
    second = await shown()
    assert second == make_payload(card_id, step, code_for(secret, step, 1), 1)
    assert code_for(secret, step, 1) != code_for(secret, step)
    assert (await _verify(services, cipher, second)).verdict is Verdict.VALID
    assert (await _verify(services, cipher, second)).verdict is Verdict.REPLAYED
    assert (await _verify(services, cipher, first)).verdict is Verdict.REPLAYED
    # A refresh number with the code of another refresh is not ours.
    forged = make_payload(card_id, step, code_for(secret, step), 2)
    assert (await _verify(services, cipher, forged)).verdict is Verdict.UNKNOWN


async def test_a_revoked_card_is_revoked_with_or_without_its_secret(
    services: Services, cipher: CardCipher
) -> None:
    card_id, secret = await _card(services, cipher)
    payload = _now_payload(services, card_id, secret)
    await _set(services, card_id, status=CardStatus.REVOKED)
    assert (await _verify(services, cipher, payload)).verdict is Verdict.REVOKED
    await _set(services, card_id, secret_encrypted=None)
    assert (await _verify(services, cipher, payload)).verdict is Verdict.REVOKED


async def test_an_altered_code_is_unknown_and_spends_nothing(
    services: Services, cipher: CardCipher
) -> None:
    card_id, secret = await _card(services, cipher)
    payload = _now_payload(services, card_id, secret)
    altered = payload[:-1] + str((int(payload[-1]) + 1) % 10)
    assert (await _verify(services, cipher, altered)).verdict is Verdict.UNKNOWN
    assert (await _verify(services, cipher, payload)).verdict is Verdict.VALID


async def test_a_forged_code_says_nothing_about_a_revoked_card(
    services: Services, cipher: CardCipher
) -> None:
    card_id, secret = await _card(services, cipher)
    await _set(services, card_id, status=CardStatus.REVOKED)
    forged = make_payload(card_id, step_at(services.clock.now(), PERIOD), "00000000")
    if forged == _now_payload(services, card_id, secret):  # one chance in 10^8
        return
    assert (await _verify(services, cipher, forged)).verdict is Verdict.UNKNOWN


async def test_a_card_past_its_valid_until_is_expired_by_the_taipei_date(
    services: Services, cipher: CardCipher, clock: FakeClock
) -> None:
    # 2026-09-01 17:00 UTC is already 2026-09-02 01:00 in Asia/Taipei.
    clock.advance(hours=14)
    card_id, secret = await _card(services, cipher, valid_until=dt.date(2026, 9, 1))
    payload = _now_payload(services, card_id, secret)
    taipei = services.clock.now().astimezone(services.profile.zone).date()
    assert (await _verify(services, cipher, payload, today=taipei)).verdict is Verdict.EXPIRED
    assert (await _verify(services, cipher, payload)).verdict is Verdict.VALID  # UTC date


async def test_a_pending_card_is_unknown_until_activated(
    services: Services, cipher: CardCipher
) -> None:
    card_id, secret = await _card(services, cipher)
    payload = _now_payload(services, card_id, secret)
    await _set(services, card_id, status=CardStatus.PENDING, secret_encrypted=None)
    assert (await _verify(services, cipher, payload)).verdict is Verdict.UNKNOWN
    async with services.sessions() as session, session.begin():
        card = await session.get(AlumniCard, card_id)
        assert card is not None
        activate(card, cipher, valid_until=FAR, now=services.clock.now())
        assert card.secret_encrypted is not None
        fresh = _now_payload(services, card_id, cipher.decrypt(card.secret_encrypted))
    assert (await _verify(services, cipher, payload)).verdict is Verdict.UNKNOWN  # old secret
    assert (await _verify(services, cipher, fresh)).verdict is Verdict.VALID
    async with services.sessions() as session:
        card = await session.get(AlumniCard, card_id)
        assert card is not None
        with pytest.raises(ValueError, match="already active"):
            activate(card, cipher, valid_until=FAR, now=services.clock.now())


@pytest.mark.parametrize("text", [*MALFORMED[:6], "HDC1.999.5929200.12345678"])
async def test_malformed_payloads_and_unknown_cards_are_unknown(
    services: Services, cipher: CardCipher, text: str
) -> None:
    await _card(services, cipher)
    assert await _verify(services, cipher, text) == Verification(Verdict.UNKNOWN)


# -- secrets at rest ---------------------------------------------------------------------


async def test_the_secret_is_stored_only_encrypted(services: Services, cipher: CardCipher) -> None:
    card_id, secret = await _card(services, cipher)
    async with services.sessions() as session:
        stored = await session.scalar(
            select(AlumniCard.secret_encrypted).where(AlumniCard.id == card_id)
        )
    assert stored is not None
    assert secret.encode() not in stored and secret.lower().encode() not in stored
    assert base64.b32decode(secret) not in stored
    assert cipher.decrypt(stored) == secret
    with pytest.raises(InvalidToken):
        CardCipher(Fernet.generate_key()).decrypt(stored)


def test_the_card_key_is_derived_from_the_secret_key_or_configured() -> None:
    derived = Settings(secret_key="a" * 40).card_fernet_key
    assert derived == Settings(secret_key="a" * 40).card_fernet_key
    assert derived != Settings(secret_key="b" * 40).card_fernet_key
    assert CardCipher(derived).decrypt(CardCipher(derived).encrypt("ABC")) == "ABC"
    configured = Fernet.generate_key()
    assert Settings(card_key=configured.decode()).card_fernet_key == configured


# -- rendering ---------------------------------------------------------------------------


def test_the_png_decodes_back_to_the_payload() -> None:
    payload = make_payload(12, 5_929_200, "01234567")
    png = render_png(payload)
    assert png.startswith(b"\x89PNG")
    found = decode(Image.open(io.BytesIO(png)))
    assert [symbol.data.decode() for symbol in found] == [payload]


def test_the_terminal_rendering_uses_block_characters() -> None:
    text = render_terminal(make_payload(12, 5_929_200, "01234567"))
    assert text.strip() and len(text.splitlines()) > 10
    assert set(text) & {"█", "▀", "▄"}


# -- races (PostgreSQL's row lock) -------------------------------------------------------


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs TEST_DATABASE_URL")
async def test_two_concurrent_scans_of_one_code_give_one_valid_and_one_replay(
    services: Services, cipher: CardCipher, clock: FakeClock
) -> None:
    card_id, secret = await _card(services, cipher)
    for _ in range(3):
        payload = _now_payload(services, card_id, secret)
        results = await asyncio.gather(*(_verify(services, cipher, payload) for _ in range(2)))
        assert sorted(r.verdict for r in results) == sorted([Verdict.VALID, Verdict.REPLAYED])
        clock.advance(seconds=PERIOD)
