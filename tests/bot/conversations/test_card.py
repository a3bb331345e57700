"""The alumni card in chat: QR image, countdown, refresh in place, close, apply (seed 003)."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os

import pytest
from PIL import Image as PILImage
from pyzbar.pyzbar import decode
from sqlalchemy import select, update

from bot.card_images import cipher_of
from bot.card_refresh import CardRefresher
from bot.engine import Engine
from bot.services import Services
from bot.types import Edit, Image
from core.cards import Verdict, verify
from core.clock import FakeClock
from core.models import AlumniCard, CardStatus, CardView
from tests.chat import Chat, link_directly
from tests.factories import add_student, add_wang, issue_electronic_card


@pytest.fixture
async def alumnus(services: Services) -> int:
    return (await add_wang(services)).id


def _images(chat: Chat) -> list[Image]:
    found: list[Image] = []
    for reply in chat.last:
        if isinstance(reply, Image):
            found.append(reply)
        elif isinstance(reply, Edit):
            found.append(reply.image)
    return found


async def _open_card(services: Services, chat: Chat, alumnus: int) -> Image:
    """Issue the alumnus a card, link ``chat`` to them and open it: the one image shown."""
    await issue_electronic_card(services, alumnus)
    await link_directly(services, chat, alumnus)
    await chat.press("My alumni card")
    (image,) = _images(chat)
    return image


async def test_the_card_shows_a_qr_that_decodes_to_a_valid_code_with_a_countdown(
    chat: Chat, services: Services, alumnus: int, clock: FakeClock
) -> None:
    await issue_electronic_card(services, alumnus)
    await link_directly(services, chat, alumnus)
    clock.advance(seconds=20)
    await chat.press("My alumni card")
    (image,) = _images(chat)
    assert "Wang Da-Tong · Electronic alumni card" in image.caption
    assert "Valid until 2030-06-30" in image.caption
    assert "04:40 left, refreshes automatically" in image.caption
    assert [c.label for c in image.choices] == ["Refresh now", "Close the card"]
    payload = decode(PILImage.open(io.BytesIO(image.png)))[0].data.decode()
    assert "Wang" not in payload and "F131104093" not in payload and len(payload) < 60
    async with services.sessions() as session, session.begin():
        result = await verify(
            session,
            cipher_of(services),
            payload,
            now=clock.now(),
            period=services.profile.card.refresh_seconds,
        )
    assert result.verdict is Verdict.VALID


async def test_the_card_in_chinese_shows_the_seed_countdown(
    engine: Engine, services: Services, alumnus: int, clock: FakeClock
) -> None:
    chat = Chat(engine, user="zh", locale="zh-TW")
    await issue_electronic_card(services, alumnus)
    await link_directly(services, chat, alumnus)
    clock.advance(seconds=20)
    await chat.press("我的校友證")
    (image,) = _images(chat)
    assert "剩04:40 自動更新" in image.caption
    assert "王大同 · 電子校友證" in image.caption


async def test_refresh_now_replaces_the_image_in_place(
    chat: Chat, services: Services, alumnus: int, clock: FakeClock
) -> None:
    first = await _open_card(services, chat, alumnus)
    clock.advance(seconds=301)
    replies = await chat.press("Refresh now")
    assert len(replies) == 1 and isinstance(replies[0], Edit)
    assert replies[0].key == first.key
    assert replies[0].image.png != first.png  # a new step, a new code
    # The buttons on the refreshed image work.
    await chat.press("Close the card")
    assert "The alumni card is closed." in chat.text()


def _payload(image: Image) -> str:
    return str(decode(PILImage.open(io.BytesIO(image.png)))[0].data.decode())


async def _check(services: Services, payload: str) -> Verdict:
    async with services.sessions() as session, session.begin():
        result = await verify(
            session,
            cipher_of(services),
            payload,
            now=services.clock.now(),
            period=services.profile.card.refresh_seconds,
        )
    return result.verdict


async def test_refresh_now_after_a_scan_shows_a_code_the_verifier_accepts_within_the_step(
    chat: Chat, services: Services, alumnus: int, clock: FakeClock
) -> None:
    first = await _open_card(services, chat, alumnus)
    used = _payload(first)
    assert await _check(services, used) is Verdict.VALID
    clock.advance(seconds=5)  # still the same 300 s step
    await chat.press("Refresh now")
    (second,) = _images(chat)
    fresh = _payload(second)
    assert fresh != used
    assert await _check(services, fresh) is Verdict.VALID
    # Replay protection is unchanged: each code once, and the older one never again.
    assert await _check(services, fresh) is Verdict.REPLAYED
    assert await _check(services, used) is Verdict.REPLAYED
    await chat.press("Refresh now")
    (third,) = _images(chat)
    assert await _check(services, _payload(third)) is Verdict.VALID


async def test_a_scanned_code_is_replaced_in_the_open_card_without_a_press(
    chat: Chat, services: Services, alumnus: int, clock: FakeClock
) -> None:
    first = await _open_card(services, chat, alumnus)
    assert await _check(services, _payload(first)) is Verdict.VALID
    clock.advance(seconds=1)
    (refresh,) = await CardRefresher(services).run_once()
    assert refresh.edit is not None and refresh.edit.key == first.key
    assert await _check(services, _payload(refresh.edit.image)) is Verdict.VALID


async def test_due_refreshes_are_edits_until_the_card_closes_after_its_open_time(
    chat: Chat, services: Services, alumnus: int, clock: FakeClock
) -> None:
    image = await _open_card(services, chat, alumnus)
    refresher = CardRefresher(services)
    assert await refresher.run_once() == []  # nothing due inside the step
    clock.advance(seconds=300)
    (refresh,) = await refresher.run_once()
    assert refresh.edit is not None and refresh.edit.key == image.key
    assert (refresh.channel, refresh.chat_id) == ("test", chat.user)
    assert await refresher.run_once() == []  # done once
    clock.advance(minutes=15)
    (closing,) = await refresher.run_once()
    assert closing.edit is None and closing.closed_text is not None
    assert await refresher.run_once() == []


async def test_closing_the_card_stops_its_refreshes_and_old_buttons_are_stale(
    chat: Chat, services: Services, alumnus: int, clock: FakeClock
) -> None:
    await issue_electronic_card(services, alumnus)
    await link_directly(services, chat, alumnus)
    await chat.press("My alumni card")
    refresh_action = chat.action_for("Refresh now")
    await chat.press("Close the card")
    clock.advance(seconds=600)
    assert await CardRefresher(services).run_once() == []
    await chat.send(chat.incoming(action=refresh_action))
    assert "no longer works" in chat.text()


async def test_an_alumnus_without_a_card_can_apply_once(
    chat: Chat, services: Services, alumnus: int
) -> None:
    await link_directly(services, chat, alumnus)
    await chat.press("My alumni card")
    assert "You have no electronic alumni card yet. Apply for one?" in chat.text()
    await chat.press("Apply")
    assert "was received" in chat.text()
    await chat.say("/menu")
    await chat.press("My alumni card")
    assert "waiting for review" in chat.text()
    async with services.sessions() as session:
        cards = (await session.scalars(select(AlumniCard))).all()
    assert [c.status for c in cards] == ["pending"]


async def test_after_a_revocation_the_card_is_said_to_be_revoked_not_missing(
    engine: Engine, services: Services, alumnus: int, clock: FakeClock
) -> None:
    card_id = await issue_electronic_card(services, alumnus)
    clock.advance(days=3)
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(AlumniCard).values(status=CardStatus.REVOKED, decided_at=clock.now())
        )
    revoked_on = clock.now().astimezone(services.profile.zone).date()
    chat = Chat(engine, user="zh", locale="zh-TW")
    await link_directly(services, chat, alumnus)
    await chat.press("我的校友證")
    text = chat.text()
    assert f"您的電子校友證（編號 {card_id}）已於 {revoked_on} 停用" in text
    assert "還沒有" not in text and "數位" not in text
    assert chat.labels() == ["申請", "暫時不要"]


async def test_the_question_to_apply_names_the_card_one_way_in_chinese(
    engine: Engine, services: Services, alumnus: int
) -> None:
    chat = Chat(engine, user="zh", locale="zh-TW")
    await link_directly(services, chat, alumnus)
    await chat.press("我的校友證")
    assert "您還沒有電子校友證。要申請嗎？" in chat.text()
    assert "數位" not in chat.text()


async def test_an_unlinked_user_is_asked_to_link_first(chat: Chat) -> None:
    await chat.say("/start")
    await chat.press("My alumni card")
    assert "First, let us link this chat" in chat.text()


async def test_someone_elses_card_is_never_shown(
    engine: Engine, services: Services, alumnus: int
) -> None:
    await issue_electronic_card(services, alumnus)
    other = await add_student(
        services,
        id_number="A800000014",
        birthday=dt.date(1990, 1, 1),
        student_id="211300009",
        name_en="Other Person",
        campus_mail=False,
    )
    chat = Chat(engine, user="other")
    await link_directly(services, chat, other.id)
    await chat.press("My alumni card")
    assert _images(chat) == [] and "Wang" not in chat.text()


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="SKIP LOCKED is PostgreSQL's")
async def test_two_workers_refresh_each_due_card_exactly_once(
    engine: Engine, services: Services, clock: FakeClock
) -> None:
    for n in range(12):
        person = await add_student(
            services,
            id_number=_valid_id(n),
            birthday=dt.date(1985, 1, 1),
            student_id=f"1092050{n:02d}",
            name_en=f"Alum {n}",
            campus_mail=False,
        )
        await issue_electronic_card(services, person.id)
        chat = Chat(engine, user=f"alum{n}")
        await link_directly(services, chat, person.id)
        await chat.press("My alumni card")
    clock.advance(seconds=300)
    first, second = CardRefresher(services), CardRefresher(services)
    results = await asyncio.gather(
        *(w.run_once(batch=3) for w in (first, second) for _ in range(4))
    )
    refreshed = [r.chat_id for batch in results for r in batch]
    assert sorted(refreshed) == sorted(f"alum{n}" for n in range(12))
    async with services.sessions() as session:
        counts = [v.refreshes for v in (await session.scalars(select(CardView))).all()]
    assert counts == [1] * 12


def _valid_id(n: int) -> str:
    from core.idnumbers import make_valid

    return make_valid(f"A1{n:07d}")
