"""Each test over both directories a password can live in: the bot's tables and a real
slapd. Import ``backend``, ``client`` and ``slapd_server`` into a test module (and name
them in its ``__all__``) to run its tests once per backend."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.engine import Engine
from bot.services import Services
from bot.web import create_app
from core.accounts import find_target, password_hashes
from core.directory.ldap import LdapDirectory
from core.directory.sync import SyncReport, sync
from core.directory.wiring import Directories
from core.profiles import Profile
from core.settings import Settings
from tests.chat import Chat
from tests.core.directory.conftest import pointed_at
from tests.factories import LIN_STUDENT_ID, add_lin
from tests.ldap_server import (
    DEMO_PASSWORD,
    SERVICE_PASSWORD,
    SlapdServer,
    ldap_profile,
    running,
    slapd_server,
)

__all__ = [
    "NEW",
    "Backend",
    "backend",
    "browser",
    "client",
    "forgot_in_chat",
    "on_directory",
    "set_on_page",
    "slapd_server",
    "sync_index",
]

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
        await add_lin(services, with_account=True, password=DEMO_PASSWORD)

        async def logs_in_sql(password: str) -> bool:
            return await _sql_verifies(services, LIN_STUDENT_ID, password)

        yield Backend(services, LIN_STUDENT_ID, DEMO_PASSWORD, logs_in_sql)
        return
    request.getfixturevalue("slapd_server")  # skips the test where slapd is not installed
    with running(tmp_path / "slapd") as server:
        on_directory(services, settings, pointed_at(ldap_profile(), server.uri))
        dn = server.spare(0).dn

        async def logs_in_ldap(password: str) -> bool:
            return await asyncio.to_thread(server.binds, dn, password)

        try:
            yield Backend(services, "spare00", DEMO_PASSWORD, logs_in_ldap, server)
        finally:
            await services.directories.close()


def on_directory(
    services: Services, settings: Settings, profile: Profile, **changes: object
) -> LdapDirectory:
    """Point ``services`` at ``profile``'s LDAP directory, bound as the test slapd's
    service account, with any further ``changes`` to ``settings``; its directory."""
    services.profile = profile
    services.settings = settings.model_copy(
        update={"directory_bind_password": SecretStr(SERVICE_PASSWORD), **changes}
    )
    services.directories = Directories(
        profile,
        services.settings,
        pii=services.pii,
        hasher=services.passwords,
        clock=services.clock,
        sessions=services.sessions,
    )
    assert services.directories.remote is not None
    return services.directories.remote


async def change_directory(
    services: Services, settings: Settings, **directory: object
) -> LdapDirectory:
    """Re-point ``services`` at their profile with ``[directory]`` fields changed."""
    changed = services.profile.directory.model_copy(update=directory)
    await services.directories.close()
    profile = services.profile.model_copy(update={"directory": changed})
    return on_directory(services, settings, profile)


async def sync_index(services: Services, *, full: bool = False) -> SyncReport:
    """Sync the local index of the directory ``services`` are pointed at, now."""
    remote = services.directories.remote
    assert remote is not None
    return await sync(services.sessions, remote, services.pii, now=services.clock.now(), full=full)


async def _sql_verifies(services: Services, name: str, password: str) -> bool:
    async with services.sessions() as session:
        target = await find_target(session, services.profile, name=name, id_number_hash=None)
        assert target is not None
        hashes = await password_hashes(session, target, 0)
    return bool(hashes) and services.passwords.verify_sync(hashes[0], password)


@contextlib.asynccontextmanager
async def browser(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of the web app over ``services``."""
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client


@pytest.fixture
async def client(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of the web app over the backend's services."""
    async with browser(backend.services) as client:
        yield client


async def forgot_in_chat(services: Services, account: str, id_number: str, *, user: str) -> str:
    """The forgot-password flow in the chat for ``account``, proving ``id_number``; what
    the bot said."""
    chat = Chat(Engine(services), user=user)
    await chat.say("/start")
    await chat.press("I forgot my password")
    await chat.say(account)
    await chat.say(id_number)
    return chat.text()


async def set_on_page(client: httpx.AsyncClient, link: str, new: str) -> httpx.Response:
    """Open a mailed password link's page and set ``new`` there; the page's answer."""
    path = "/" + link.split("/", 3)[3]
    page = await client.get(path)
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"csrf": csrf.group(1), "new_password": new, "confirm_password": new}
    return await client.post(path, data=form)
