"""The Directory port's promises, on the bot's tables and on OpenLDAP alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from core.db import create_engine, session_factory
from core.demo_data import DEMO_PEOPLE
from core.directory import (
    Directory,
    PasswordRefused,
    PasswordState,
    StudentMatch,
    TargetKind,
    WrongPassword,
)
from core.directory.ldap import LdapDirectory
from core.directory.sync import IndexedStudents, sync
from core.password_policy import Violation
from core.pii import PiiHasher
from core.profiles import load_profile
from tests.core.directory.conftest import Backend
from tests.ldap_server import DEMO_PASSWORD

NEW = "Cobalt-Harbour-71!"
NEWER = "Violet-Lantern-38?"


async def test_the_account_is_found_with_its_owners_id_number(backend: Backend) -> None:
    found = await backend.directory.find_target(
        backend.account, id_number_hash=backend.pii.id_number(backend.id_number)
    )
    assert found is not None
    assert found.kind is TargetKind.ACCOUNT
    assert found.name == backend.account
    assert found.send_to


async def test_another_id_number_finds_nothing(backend: Backend) -> None:
    wrong = backend.pii.id_number("B226034180")
    assert await backend.directory.find_target(backend.account, id_number_hash=wrong) is None
    assert await backend.directory.find_target("nobody-here", id_number_hash=None) is None


async def test_a_mailbox_link_goes_to_the_notification_address(backend: Backend) -> None:
    found = await backend.directory.find_target(backend.mailbox, id_number_hash=None)
    assert found is not None
    assert found.kind is TargetKind.MAILBOX
    assert found.send_to and found.send_to != backend.mailbox


async def test_a_reset_takes_the_new_password_and_ends_the_old(backend: Backend) -> None:
    account = await backend.directory.find_target(backend.account, id_number_hash=None)
    assert account is not None
    await backend.directory.reset_password(account, NEW)
    assert await backend.directory.verify_password(account, NEW)
    assert not await backend.directory.verify_password(account, DEMO_PASSWORD)


async def test_a_change_with_the_current_password_takes_the_new_one(backend: Backend) -> None:
    account = await backend.directory.find_target(backend.account, id_number_hash=None)
    assert account is not None
    await backend.directory.change_password(account, DEMO_PASSWORD, NEW)
    assert await backend.directory.verify_password(account, NEW)
    assert not await backend.directory.verify_password(account, DEMO_PASSWORD)


async def test_a_change_with_a_wrong_current_password_changes_nothing(backend: Backend) -> None:
    account = await backend.directory.find_target(backend.account, id_number_hash=None)
    assert account is not None
    with pytest.raises(WrongPassword):
        await backend.directory.change_password(account, "Not-The-Password-1", NEW)
    assert await backend.directory.verify_password(account, DEMO_PASSWORD)


async def test_the_previous_password_is_refused_as_reused(backend: Backend) -> None:
    account = await backend.directory.find_target(backend.account, id_number_hash=None)
    assert account is not None
    await backend.directory.change_password(account, DEMO_PASSWORD, NEW)
    with pytest.raises(PasswordRefused) as refused:
        await backend.directory.change_password(account, NEW, DEMO_PASSWORD)
    assert refused.value.violation is Violation.REUSED
    assert await backend.directory.verify_password(account, NEW)


async def test_an_empty_password_never_verifies(backend: Backend) -> None:
    account = await backend.directory.find_target(backend.account, id_number_hash=None)
    assert account is not None
    assert not await backend.directory.verify_password(account, "")


async def test_the_password_state_says_when_it_was_set(backend: Backend) -> None:
    account = await backend.directory.find_target(backend.account, id_number_hash=None)
    assert account is not None
    state = await backend.directory.password_state(account)
    assert state.changed_at is not None
    assert not state.locked


async def test_personal_words_hold_the_account_name_and_the_name(backend: Backend) -> None:
    account = await backend.directory.find_target(backend.account, id_number_hash=None)
    assert account is not None
    words = await backend.directory.personal_words(account)
    assert backend.account in words
    assert len(words) >= 2


@pytest.fixture
async def indexed(backend: Backend, database_url: str, pii: PiiHasher) -> AsyncIterator[Directory]:
    """A backend whose student-ID lookups work: SQL as is, LDAP through its synced index."""
    if not isinstance(backend.directory, LdapDirectory):
        yield backend.directory
        return
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        await sync(sessions, backend.directory, pii, now=dt.datetime.now(dt.UTC))
        yield LdapDirectory(
            backend.directory.profile,
            pii=pii,
            bind_password=None,
            index=IndexedStudents(sessions),
        )
    finally:
        await engine.dispose()


async def test_student_ids_are_found_by_id_number_and_birthday_only_together(
    indexed: Directory, pii: PiiHasher
) -> None:
    lin = DEMO_PEOPLE[0]
    assert lin.student_id and lin.degree_level

    async def ids(number: str, birthday: dt.date, level: str) -> list[str]:
        return await indexed.find_student_ids(
            id_number_hash=pii.id_number(number),
            birthday_hash=pii.birthday(birthday),
            degree_level=level,
        )

    assert await ids(lin.id_number, lin.birthday, lin.degree_level) == [lin.student_id]
    assert await ids(lin.id_number, lin.birthday + dt.timedelta(days=1), lin.degree_level) == []
    assert await ids(lin.id_number, lin.birthday, "doctoral") == []
    assert await ids("B226034180", lin.birthday, lin.degree_level) == []
    # With its enrolment status: SQL's record, or the LDAP entry's 在學 through the profile.
    found = await indexed.find_students(
        id_number_hash=pii.id_number(lin.id_number),
        birthday_hash=pii.birthday(lin.birthday),
        degree_level=lin.degree_level,
    )
    assert found == [StudentMatch(lin.student_id, lin.status.value)]


def test_the_directorys_own_maximum_age_makes_the_password_expired() -> None:
    policy = load_profile("demo").password_policy
    now = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    fresh = PasswordState(changed_at=now - dt.timedelta(days=1), expires_at=now - dt.timedelta(1))
    assert fresh.reason(policy, now=now) is Violation.EXPIRED
    reset = PasswordState(changed_at=now, must_change=True)
    assert reset.reason(policy, now=now) is Violation.MUST_CHANGE
    assert PasswordState(changed_at=now).reason(policy, now=now) is None


async def test_an_accounts_owner_names_the_person_whose_accounts_and_address_they_are(
    backend: Backend,
) -> None:
    """What a linked chat keeps (the owner) finds the person's accounts again, and a
    mailbox or notification address finds the same owner."""
    found = await backend.directory.find_target(backend.account, id_number_hash=None)
    assert found is not None
    mine = await backend.directory.accounts_of(found.owner)
    assert [account.name for account in mine] == [backend.account]
    assert mine[0].kind is TargetKind.ACCOUNT and mine[0].send_to == found.send_to
    assert await backend.directory.owner_by_address(backend.mailbox.upper()) == found.owner
    assert await backend.directory.owner_by_address("nobody@example.org") is None
    assert await backend.directory.accounts_of(found.owner + "0") == []
