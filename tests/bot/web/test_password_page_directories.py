"""The password page writes where the user logs in: the bot's tables, or a real slapd."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.services import Services
from bot.web import create_app
from core import tokens
from core.accounts import find_target, password_hashes
from core.directory import link_subject
from core.directory.wiring import Directories
from core.i18n import Translator
from core.password_policy import Violation, requirements
from core.settings import Settings
from tests.core.directory.conftest import pointed_at
from tests.factories import add_student
from tests.ldap_server import (
    DEMO_PASSWORD,
    SERVICE_PASSWORD,
    SlapdServer,
    build,
    ldap_profile,
    slapd_server,
)

__all__ = ["slapd_server"]

NEW = "Cobalt-Harbour-71!"


@dataclass
class Backend:
    """Services over one directory, an account in it and a way to try its password."""

    services: Services
    account: str
    password: str  # its current password
    logs_in: Callable[[str], Awaitable[bool]]  # whether a login with this password works now
    server: SlapdServer | None = None


@pytest.fixture(params=["sql", "ldap"])
async def backend(
    request: pytest.FixtureRequest, services: Services, settings: Settings, tmp_path: Path
) -> AsyncIterator[Backend]:
    if request.param == "sql":
        await add_student(
            services,
            id_number="F131104093",
            birthday=dt.date(1996, 1, 2),
            student_id="211300001",
            with_account=True,
            password=DEMO_PASSWORD,
        )

        async def logs_in_sql(password: str) -> bool:
            return await _sql_verifies(services, "211300001", password)

        yield Backend(services, "211300001", DEMO_PASSWORD, logs_in_sql)
        return
    request.getfixturevalue("slapd_server")  # skips the test where slapd is not installed
    server = build(tmp_path / "slapd", ldap_profile())
    server.start()
    profile = pointed_at(ldap_profile(), server.uri)
    services.profile = profile
    services.directories = Directories(
        profile,
        settings.model_copy(update={"directory_bind_password": SecretStr(SERVICE_PASSWORD)}),
        pii=services.pii,
        hasher=services.passwords,
        clock=services.clock,
        sessions=services.sessions,
    )
    dn = server.spare(0).dn
    try:
        yield Backend(
            services, "spare00", DEMO_PASSWORD, partial(asyncio.to_thread, server.binds, dn), server
        )
    finally:
        await services.directories.close()
        server.stop()


async def _sql_verifies(services: Services, name: str, password: str) -> bool:
    async with services.sessions() as session:
        target = await find_target(session, services.profile, name=name, id_number_hash=None)
        assert target is not None
        hashes = await password_hashes(session, target, 0)
    return bool(hashes) and services.passwords.verify_sync(hashes[0], password)


@pytest.fixture
async def client(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(backend.services))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client


async def _link(backend: Backend, purpose: tokens.Purpose = tokens.Purpose.RESET) -> str:
    services = backend.services
    async with services.sessions() as session, session.begin():
        account = await services.directories(session).find_target(
            backend.account, id_number_hash=None
        )
        assert account is not None
        return await tokens.issue(
            session,
            purpose=purpose,
            subject=link_subject(account),
            lifetime=dt.timedelta(minutes=15),
            now=services.clock.now(),
            data={"locale": "en", "channel": "test", "chat_id": "alice"},
        )


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
    done = await _submit(client, await _link(backend), NEW)
    assert done.status_code == 200 and "Password changed" in done.text
    assert await backend.logs_in(NEW)
    assert not await backend.logs_in(backend.password)


async def test_a_change_on_the_page_needs_the_current_password(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    token = await _link(backend, tokens.Purpose.CHANGE)
    wrong = await _submit(client, token, NEW, current="Not-The-Passw0rd!")
    assert wrong.status_code == 422 and "The current password is not right." in wrong.text
    done = await _submit(client, token, NEW, current=backend.password)
    assert done.status_code == 200
    assert await backend.logs_in(NEW) and not await backend.logs_in(backend.password)


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
async def test_a_recent_password_is_refused_on_the_page_in_the_users_language(
    client: httpx.AsyncClient, backend: Backend, lang: str
) -> None:
    assert (await _submit(client, await _link(backend), NEW)).status_code == 200
    token = await _link(backend)
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
    token = await _link(backend, tokens.Purpose.CHANGE)
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
    token = await _link(backend)
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
