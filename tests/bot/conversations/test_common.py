"""What flows share: the "contact this office" sentence from the profile's contacts."""

from __future__ import annotations

import pytest

from bot.desk import contact_text
from bot.flow import Context
from bot.services import Services
from bot.types import Incoming
from core.i18n import Translator
from core.models import ChatIdentity
from core.profiles import load_profile


async def _say(services: Services, profile: str, office: str, locale: str) -> str:
    services.profile = load_profile(profile)
    async with services.sessions() as session:
        ctx = Context(
            session=session,
            services=services,
            incoming=Incoming(channel="test", user_id="u", chat_id="u"),
            identity=ChatIdentity(channel="test", platform_user_id="u"),
            translator=Translator(locale),
            nonce="n",
            data={},
        )
        return contact_text(ctx, office)  # type: ignore[arg-type]


async def test_the_ntu_alumni_centre_is_named_with_its_phone_hours_and_page(
    services: Services,
) -> None:
    zh = await _say(services, "ntu", "alumni_centre", "zh_TW")
    assert zh.startswith("請聯絡臺大校友中心（總圖書館）：電話 02-33662042，上班日 09:00-17:00，")
    assert "https://www.alumni.ntu.edu.tw/" in zh and "02-33663299" in zh  # night school
    en = await _say(services, "ntu", "alumni_centre", "en")
    assert en.startswith(
        "Please contact the NTU Alumni Centre (Main Library): phone 02-33662042, "
        "working days 09:00-17:00, https://www.alumni.ntu.edu.tw/."
    )


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("en", "Please contact the registration office."), ("zh_TW", "請聯絡註冊組。")],
)
async def test_an_office_the_profile_gives_no_details_for_is_named_alone(
    services: Services, locale: str, expected: str
) -> None:
    assert await _say(services, "ntu", "registration", locale) == expected
