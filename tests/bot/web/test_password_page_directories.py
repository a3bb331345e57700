"""The password page writes where the user logs in: the bot's tables, or a real slapd."""

from __future__ import annotations

import re

import httpx
import pytest

from core import tokens
from core.i18n import Translator
from core.password_policy import Violation, requirements
from tests.directory_backends import NEW, Backend, backend, client, slapd_server
from tests.factories import password_link

__all__ = ["backend", "client", "slapd_server"]


async def _submit(
    client: httpx.AsyncClient,
    token: str,
    new: str,
    *,
    current: str | None = None,
    lang: str = "en",
) -> httpx.Response:
    page = await client.get(f"/password/{token}?lang={lang}")
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"csrf": csrf.group(1), "new_password": new, "confirm_password": new}
    if current is not None:
        form["current_password"] = current
    return await client.post(f"/password/{token}?lang={lang}", data=form)


async def test_a_reset_on_the_page_changes_the_password_where_the_user_logs_in(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    done = await _submit(client, await password_link(backend.services, backend.account), NEW)
    assert done.status_code == 200 and "Password changed" in done.text
    assert await backend.logs_in(NEW)
    assert not await backend.logs_in(backend.password)


async def test_a_change_on_the_page_needs_the_current_password(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    token = await password_link(backend.services, backend.account, purpose=tokens.Purpose.CHANGE)
    wrong = await _submit(client, token, NEW, current="Not-The-Passw0rd!")
    assert wrong.status_code == 422 and "The current password is not right." in wrong.text
    done = await _submit(client, token, NEW, current=backend.password)
    assert done.status_code == 200
    assert await backend.logs_in(NEW) and not await backend.logs_in(backend.password)


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
async def test_a_recent_password_is_refused_on_the_page_in_the_users_language(
    client: httpx.AsyncClient, backend: Backend, lang: str
) -> None:
    assert (
        await _submit(client, await password_link(backend.services, backend.account), NEW)
    ).status_code == 200
    token = await password_link(backend.services, backend.account)
    refused = await _submit(client, token, backend.password, lang=lang)
    assert refused.status_code == 422
    policy = backend.services.profile.password_policy
    rule = next(r for r in requirements(policy) if r.code == Violation.REUSED)
    t = Translator(lang.replace("-", "_"))
    assert t._(rule.message, **rule.params) in refused.text
    assert await backend.logs_in(NEW)
    # The link still works for a password that is not a recent one.
    assert (await _submit(client, token, "Amber-Meadow-Signal-58")).status_code == 200


async def test_a_locked_directory_account_is_shown_as_locked(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    if backend.server is None:
        pytest.skip("the bot's own tables have no lockout of their own")
    for _ in range(5):  # pwdMaxFailure
        assert not await backend.logs_in("Wrong-Passw0rd!")
    token = await password_link(backend.services, backend.account, purpose=tokens.Purpose.CHANGE)
    for lang, text in [
        ("en", "This account is locked after too many wrong passwords."),
        ("zh-TW", "此帳號因密碼錯誤次數過多已被鎖定。"),
    ]:
        locked = await client.get(f"/password/{token}?lang={lang}")
        assert locked.status_code == 423 and text in locked.text
    assert not await backend.logs_in(NEW)


async def test_a_directory_that_stops_changes_nothing_and_the_link_works_when_it_returns(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    if backend.server is None:
        pytest.skip("the bot's own tables stop only with the database")
    token = await password_link(backend.services, backend.account)
    page = await client.get(f"/password/{token}?lang=zh-TW")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"csrf": csrf.group(1), "new_password": NEW, "confirm_password": NEW}
    backend.server.stop()
    down = await client.post(f"/password/{token}?lang=zh-TW", data=form)
    assert down.status_code == 503
    assert "服務暫時無法使用，沒有做任何變更" in down.text
    backend.server.start()
    assert await backend.logs_in(backend.password)  # nothing was half-written
    done = await _submit(client, token, NEW)
    assert done.status_code == 200
    assert await backend.logs_in(NEW)
