"""What `helpdesk policy check` reads of an account: the page's personal words, the hashes."""

from __future__ import annotations

from bot.services import Services
from core.accounts import (
    find_target,
    password_facts,
    personal_words,
    store_password,
    username_taken,
)
from tests.factories import LIN_STUDENT_ID, add_lin


async def test_the_command_checks_the_same_personal_words_as_the_page(services: Services) -> None:
    await add_lin(services, with_account=True, password="Old-Passw0rd!")
    async with services.sessions() as session:
        facts = await password_facts(session, LIN_STUDENT_ID)
        target = await find_target(
            session, services.profile, name=LIN_STUDENT_ID, id_number_hash=None
        )
        assert target is not None
        on_the_page = await personal_words(session, target)
    assert facts is not None
    assert list(facts.personal) == on_the_page == [LIN_STUDENT_ID, "林明志", "Lin Ming-Zhi"]


async def test_the_hashes_are_the_current_password_first_then_earlier_ones(
    services: Services,
) -> None:
    await add_lin(services, with_account=True, password="Old-Passw0rd!")
    async with services.sessions() as session, session.begin():
        target = await find_target(
            session, services.profile, name=LIN_STUDENT_ID, id_number_hash=None
        )
        assert target is not None
        await store_password(
            session, services.passwords, target, "New-Passw0rd!", now=services.clock.now()
        )
    async with services.sessions() as session:
        facts = await password_facts(session, LIN_STUDENT_ID.upper())
    assert facts is not None
    current, earlier = facts.hashes
    assert services.passwords.verify_sync(current, "New-Passw0rd!")
    assert services.passwords.verify_sync(earlier, "Old-Passw0rd!")


async def test_an_unknown_account_has_no_facts_and_names_are_taken_exactly(
    services: Services,
) -> None:
    await add_lin(services, with_account=True)
    async with services.sessions() as session:
        assert await password_facts(session, "nobody") is None
        assert await username_taken(session, LIN_STUDENT_ID)
        assert not await username_taken(session, "nobody")
