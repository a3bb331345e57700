"""What an electronic alumni card costs is said when the user is asked to apply."""

from __future__ import annotations

import pytest

from bot.engine import Engine
from bot.services import Services
from core.profiles import load_profile
from tests.chat import Chat, link_directly
from tests.factories import add_wang


def _set_fee(services: Services, fee: int | None) -> None:
    card = services.profile.card.model_copy(update={"fee": fee})
    services.profile = services.profile.model_copy(update={"card": card})


async def test_the_apply_question_names_the_fee_the_profile_states(
    chat: Chat, services: Services
) -> None:
    _set_fee(services, 100)
    await link_directly(services, chat, (await add_wang(services)).id)
    await chat.press("My alumni card")
    assert "Apply for one?" in chat.text()
    assert "The electronic alumni card costs NT$100." in chat.text()


async def test_a_free_card_is_said_to_be_free_in_chinese(
    engine: Engine, services: Services
) -> None:
    _set_fee(services, 0)
    chat = Chat(engine, user="zh", locale="zh-TW")
    await link_directly(services, chat, (await add_wang(services)).id)
    await chat.press("我的校友證")
    assert "電子校友證免費。" in chat.text()


async def test_no_price_is_named_where_the_profile_states_none(
    chat: Chat, services: Services
) -> None:
    _set_fee(services, None)
    await link_directly(services, chat, (await add_wang(services)).id)
    await chat.press("My alumni card")
    assert "NT$" not in chat.text() and "free" not in chat.text()


@pytest.mark.parametrize("name", ["ntu", "demo"])
def test_the_seeded_profiles_state_no_fee_as_seed_003_gives_none(name: str) -> None:
    assert load_profile(name).card.fee is None
