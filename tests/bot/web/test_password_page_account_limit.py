"""The password page counts submissions per account too: new links give no new guesses."""

from __future__ import annotations

import datetime as dt
import re

import httpx

from bot.services import Services
from core import tokens
from core.clock import FakeClock
from tests.factories import LIN_STUDENT_ID, add_lin, password_link

OLD = "Old-Passw0rd!"
NEW = "Blue-Harbor-Lantern-42"


async def _guess(client: httpx.AsyncClient, token: str, current: str) -> httpx.Response:
    page = await client.get(f"/password/{token}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    form = {"new_password": NEW, "confirm_password": NEW, "current_password": current}
    if csrf is not None:
        form["csrf"] = csrf.group(1)
    return await client.post(f"/password/{token}", data=form)


async def test_wrong_current_passwords_across_several_links_pause_the_account_until_a_time(
    client: httpx.AsyncClient, services: Services, clock: FakeClock
) -> None:
    await add_lin(services, with_account=True, password=OLD)
    limit = services.profile.limits.failures_per_user
    links = [
        await password_link(services, LIN_STUDENT_ID, purpose=tokens.Purpose.CHANGE)
        for _ in range(limit + 1)
    ]
    # One wrong guess per fresh link: each link alone is far from its own limit.
    for token in links[:limit]:
        wrong = await _guess(client, token, "wrong-guess")
        assert wrong.status_code == 422 and "current password is not right" in wrong.text

    paused = await _guess(client, links[limit], OLD)  # even the right one now
    assert paused.status_code == 429
    until = (
        clock.now() + dt.timedelta(minutes=services.profile.limits.lockout_minutes)
    ).astimezone(services.profile.zone)
    assert "paused for it until" in paused.text
    assert until.strftime("%Y-%m-%d %H:%M") in paused.text and "Taiwan time" in paused.text
    assert "Password changed" not in paused.text

    clock.advance(minutes=services.profile.limits.lockout_minutes + 1)
    fresh = await password_link(services, LIN_STUDENT_ID, purpose=tokens.Purpose.CHANGE)
    done = await _guess(client, fresh, OLD)
    assert done.status_code == 200 and "Password changed" in done.text


async def test_a_paused_account_s_new_link_says_so_in_chinese_when_opened(
    client: httpx.AsyncClient, services: Services
) -> None:
    await add_lin(services, with_account=True, password=OLD)
    limit = services.profile.limits.failures_per_user
    for _ in range(limit):
        token = await password_link(services, LIN_STUDENT_ID, purpose=tokens.Purpose.CHANGE)
        assert (await _guess(client, token, "wrong-guess")).status_code == 422
    token = await password_link(
        services, LIN_STUDENT_ID, purpose=tokens.Purpose.CHANGE, locale="zh_TW"
    )
    page = await client.get(f"/password/{token}")
    assert page.status_code == 429
    assert "暫停至" in page.text and "（臺灣時間）" in page.text
