"""People as the rest of the bot reads them: names and the address on file."""

from __future__ import annotations

from bot.services import Services
from core import people
from tests.factories import add_wang


async def test_a_person_reads_as_plain_names_and_an_address(services: Services) -> None:
    async with services.sessions() as session:
        assert await people.directory_is_empty(session)
    wang = await add_wang(services)
    async with services.sessions() as session:
        names = await people.names(session, wang.id)
        assert names == people.Names("王大同", "Wang Da-Tong")
        assert await people.notification_address(session, wang.id) is None
        assert not await people.directory_is_empty(session)
        assert await people.names(session, wang.id + 1) is None
    assert (names.in_language("zh_TW"), names.in_language("en")) == ("王大同", "Wang Da-Tong")
