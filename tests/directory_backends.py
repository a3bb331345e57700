"""Each test over both directories a password can live in: the bot's tables and a real
slapd. Import ``backend``, ``client`` and ``slapd_server`` into a test module (and name
them in its ``__all__``) to run its tests once per backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.services import Services
from bot.web import create_app
from core.accounts import find_target, password_hashes
from core.directory.wiring import Directories
from core.settings import Settings
from tests.core.directory.conftest import pointed_at
from tests.factories import LIN_STUDENT_ID, add_lin
from tests.ldap_server import (
    DEMO_PASSWORD,
    SERVICE_PASSWORD,
    SlapdServer,
    build,
    ldap_profile,
    slapd_server,
)

__all__ = ["NEW", "Backend", "backend", "client", "slapd_server"]

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

    async def logs_in_ldap(password: str) -> bool:
        return await asyncio.to_thread(server.binds, dn, password)

    try:
        yield Backend(services, "spare00", DEMO_PASSWORD, logs_in_ldap, server)
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
    """A browser of the web app over the backend's services."""
    transport = httpx.ASGITransport(app=create_app(backend.services))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client
