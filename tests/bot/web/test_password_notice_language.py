"""The suspension notice on the password page is shown in the page's language only."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update

from bot.services import Services
from core.models import Mailbox
from tests.factories import add_lin, password_link

NOTICE = (
    "各位：最近發現您的信箱帳號有疑似異常登入，因此暫停您的帳號。\n\n"
    "Dear user: we saw a suspected abnormal login to your mailbox and suspended it."
)


@pytest.mark.parametrize(
    ("locale", "shown", "hidden"),
    [
        ("zh_TW", "疑似異常登入", "suspected abnormal login"),
        ("en", "suspected abnormal login", "疑似異常登入"),
    ],
)
async def test_a_two_language_notice_shows_only_the_pages_language(
    client: httpx.AsyncClient, services: Services, locale: str, shown: str, hidden: str
) -> None:
    await add_lin(services, with_account=True)
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(Mailbox).values(
                condition="suspended",
                suspended_reason="疑似異常登入 / Suspected abnormal login",
                suspension_notice=NOTICE,
                notification_address="lin@example.org",
            )
        )
    token = await password_link(services, "a211300001@grad.demo.edu.tw", locale=locale)
    page = await client.get(f"/password/{token}")
    assert page.status_code == 200
    assert shown in page.text
    assert hidden not in page.text
