"""The background jobs keep an LDAP directory's index fresh (a real slapd on loopback)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import func, select

from bot.services import Services
from bot.web import create_app
from core.directory.ldap import ldap3
from core.directory.wiring import Directories
from core.models import DirectoryIndexEntry
from core.settings import Settings
from tests.core.directory.conftest import pointed_at
from tests.ldap_server import (
    PEOPLE,
    ROOT_DN,
    ROOT_PASSWORD,
    SERVICE_PASSWORD,
    SlapdServer,
    build,
    ldap_profile,
    slapd_server,
)

__all__ = ["slapd_server"]

NEW_DN = f"uid=111409999,{PEOPLE}"
NEW_ID_NUMBER = "F131104093"


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> bool:
    """Whether ``check`` comes true within ``seconds`` (asked every 50 ms)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


def _enrol(server: SlapdServer) -> None:
    """A student the registrar adds to the directory while the bot runs."""
    connection = ldap3.Connection(
        ldap3.Server(server.uri, get_info=ldap3.NONE), ROOT_DN, ROOT_PASSWORD, auto_bind=True
    )
    try:
        added = connection.add(  # type: ignore[no-untyped-call]
            NEW_DN,
            attributes={
                "objectClass": ["inetOrgPerson", "campusPerson"],
                "uid": "111409999",
                "cn": "Hsu Wen-Hua",
                "sn": "Hsu",
                "employeeNumber": "111409999",
                "campusDegreeLevel": "bachelor",
                "campusIdNumber": NEW_ID_NUMBER,
                "campusBirthday": "2007-02-03",
            },
        )
        assert added, connection.result
    finally:
        connection.unbind()


async def test_the_background_jobs_sync_a_new_directory_entry_into_the_index(
    services: Services, settings: Settings, tmp_path: Path, slapd_server: SlapdServer
) -> None:
    server = await asyncio.to_thread(build, tmp_path / "slapd", ldap_profile())
    await asyncio.to_thread(server.start)
    profile = pointed_at(ldap_profile(), server.uri)
    services.profile = profile
    # A round every 0.3 s here; 15 minutes unless HELPDESK_DIRECTORY_SYNC_MINUTES says.
    services.settings = settings.model_copy(
        update={
            "directory_bind_password": SecretStr(SERVICE_PASSWORD),
            "directory_sync_minutes": 0.005,
        }
    )
    services.directories = Directories(
        profile,
        services.settings,
        pii=services.pii,
        hasher=services.passwords,
        clock=services.clock,
        sessions=services.sessions,
    )
    remote = services.directories.remote
    assert remote is not None
    wanted = {
        "id_number_hash": services.pii.id_number(NEW_ID_NUMBER),
        "birthday_hash": services.pii.birthday(dt.date(2007, 2, 3)),
        "degree_level": "bachelor",
    }

    async def indexed() -> bool:
        async with services.sessions() as session:
            count = await session.scalar(select(func.count()).select_from(DirectoryIndexEntry))
        return bool(count)

    async def found() -> bool:
        return await remote.find_student_ids(**wanted) == ["111409999"]

    app = create_app(services, mail_worker=True)
    try:
        async with app.router.lifespan_context(app):
            # The first round runs at start: the whole directory is indexed.
            assert await _until(indexed)
            assert not await found()
            await asyncio.to_thread(_enrol, server)
            # A later round picks up the new entry: a lookup by ID number finds it.
            assert await _until(found)
    finally:
        await services.directories.close()
        await asyncio.to_thread(server.stop)
