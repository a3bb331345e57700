"""The LDAP example profile as shipped gives a graduate the whole alumni answer (a real slapd)."""

from __future__ import annotations

from pydantic import SecretStr

from bot.engine import Engine
from bot.services import Services
from core.directory.sync import sync
from core.directory.wiring import Directories
from core.models import RecordStatus
from core.settings import Settings
from tests.chat import Chat
from tests.core.directory.conftest import pointed_at
from tests.ldap_server import (
    SERVICE_PASSWORD,
    SlapdServer,
    directory_status,
    ldap_profile,
    slapd_server,
)

__all__ = ["slapd_server"]


async def test_a_graduate_on_the_ldap_example_is_told_the_alumni_account_and_centre(
    services: Services, settings: Settings, slapd_server: SlapdServer
) -> None:
    profile = pointed_at(ldap_profile(), slapd_server.uri)  # only the servers changed
    services.profile = profile
    services.directories = Directories(
        profile,
        settings.model_copy(update={"directory_bind_password": SecretStr(SERVICE_PASSWORD)}),
        pii=services.pii,
        hasher=services.passwords,
        clock=services.clock,
        sessions=services.sessions,
    )
    remote = services.directories.remote
    assert remote is not None
    try:
        await sync(services.sessions, remote, services.pii, now=services.clock.now())
        accounts = list(slapd_server.accounts.values())
        graduated = directory_status(profile, RecordStatus.GRADUATED)
        alumnus = next(
            account
            for account in accounts
            if account.status == graduated
            and account.student_id
            and account.degree_level
            and sum(other.id_number == account.id_number for other in accounts) == 1
        )
        assert alumnus.degree_level is not None
        level = profile.degree_level(alumnus.degree_level)
        assert level is not None
        chat = Chat(Engine(services), user="graduate")
        await chat.say("/start")
        await chat.press("Look up my student ID")
        await chat.press(level.name.en)
        await chat.say(alumnus.id_number)
        await chat.say(alumnus.birthday.isoformat())
        answer = chat.text()
    finally:
        await services.directories.close()
    assert f"Your student ID is {alumnus.student_id}." in answer
    assert f"Your alumni account is B{alumnus.student_id}00." in answer
    assert "Demo University alumni site" in answer
    assert "the Alumni Centre" in answer and "02-2345-6703" in answer
    assert "@grad.demo.edu.tw" not in answer
