"""The LDAP example profile as shipped gives a graduate the whole alumni answer (a real slapd)."""

from __future__ import annotations

from bot.engine import Engine
from bot.services import Services
from core.settings import Settings
from tests.chat import Chat
from tests.core.directory.conftest import pointed_at
from tests.directory_backends import on_directory, sync_index
from tests.ldap_server import SlapdServer, ldap_profile, slapd_server

__all__ = ["slapd_server"]


async def test_a_graduate_on_the_ldap_example_is_told_the_alumni_account_and_centre(
    services: Services, settings: Settings, slapd_server: SlapdServer
) -> None:
    profile = pointed_at(ldap_profile(), slapd_server.uri)  # only the servers changed
    on_directory(services, settings, profile)
    try:
        await sync_index(services)
        alumnus = slapd_server.graduate(profile)
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
