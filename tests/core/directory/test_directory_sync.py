"""The local index of an LDAP directory: full and incremental sync, deletions, lookups."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from core.db import create_engine, session_factory
from core.directory import StudentMatch
from core.directory.ldap import LdapDirectory
from core.directory.sync import IndexedStudents, parse_birthday, sync
from core.models import DirectoryIndexEntry
from core.pii import PiiHasher
from tests.core.directory.conftest import pointed_at
from tests.ldap_server import SERVICE_PASSWORD, SlapdServer, ldap_profile

LIN_ID, LIN_BIRTHDAY = "A128573490", dt.date(2001, 3, 14)


@pytest.fixture
async def directory(own_slapd: SlapdServer, pii: PiiHasher) -> AsyncIterator[LdapDirectory]:
    built = LdapDirectory(
        pointed_at(ldap_profile(), own_slapd.uri), pii=pii, bind_password=SERVICE_PASSWORD
    )
    yield built
    await built.close()


async def test_a_synced_index_finds_the_student_id_by_id_number_and_birthday(
    database_url: str, directory: LdapDirectory, pii: PiiHasher
) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            report = await sync(session, directory, pii, now=dt.datetime.now(dt.UTC))
        assert report.full and report.added > 300
        indexed = LdapDirectory(
            directory.profile, pii=pii, bind_password=None, index=IndexedStudents(sessions)
        )
        found = await indexed.find_student_ids(
            id_number_hash=pii.id_number(LIN_ID),
            birthday_hash=pii.birthday(LIN_BIRTHDAY),
            degree_level="master",
        )
        assert found == ["211303001"]
        wrong_day = await indexed.find_student_ids(
            id_number_hash=pii.id_number(LIN_ID),
            birthday_hash=pii.birthday(LIN_BIRTHDAY + dt.timedelta(days=1)),
            degree_level="master",
        )
        assert wrong_day == []
    finally:
        await engine.dispose()


async def test_an_incremental_sync_takes_changes_and_drops_deleted_entries(
    database_url: str, directory: LdapDirectory, own_slapd: SlapdServer, pii: PiiHasher
) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            first = await sync(session, directory, pii, now=dt.datetime.now(dt.UTC))
        lin = own_slapd.account("211303001")
        own_slapd.as_root(lin.dn, {"campusBirthday": [("MODIFY_REPLACE", ["2001-03-15"])]})
        gone = own_slapd.account("111201002")
        own_slapd.delete(gone.dn)
        async with sessions() as session, session.begin():
            second = await sync(session, directory, pii, now=dt.datetime.now(dt.UTC))
            count = await session.scalar(select(func.count()).select_from(DirectoryIndexEntry))
            row = await session.get(DirectoryIndexEntry, lin.dn)
        assert not second.full
        assert second.added == 0 and second.removed == 1
        assert 1 <= second.updated < first.added  # only what changed since the last sync
        assert count == first.added - 1
        assert row is not None and row.birthday_hash == pii.birthday(dt.date(2001, 3, 15))
    finally:
        await engine.dispose()


def test_directory_birthdays_read_in_either_spelling() -> None:
    assert parse_birthday("2001-03-14") == dt.date(2001, 3, 14)
    assert parse_birthday("20010314") == dt.date(2001, 3, 14)
    assert parse_birthday("someday") is None


async def test_the_index_keeps_each_entrys_status_in_the_profiles_words(
    database_url: str, directory: LdapDirectory, own_slapd: SlapdServer, pii: PiiHasher
) -> None:
    """campusStatus 畢業 is "graduated" (the profile's status_values); a word the profile
    does not know leaves the status unknown; a change reaches the index on the next sync."""
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    index = IndexedStudents(sessions)

    async def lin_status() -> list[StudentMatch]:
        return await index.find_students(
            id_number_hash=pii.id_number(LIN_ID),
            birthday_hash=pii.birthday(LIN_BIRTHDAY),
            degree_level="master",
        )

    try:
        async with sessions() as session, session.begin():
            await sync(session, directory, pii, now=dt.datetime.now(dt.UTC))
        assert await lin_status() == [StudentMatch("211303001", "enrolled")]  # 在學
        lin = own_slapd.account("211303001")
        for word, status in (("畢業", "graduated"), ("Graduated", "graduated"), ("離校", None)):
            own_slapd.as_root(lin.dn, {"campusStatus": [("MODIFY_REPLACE", [word])]})
            async with sessions() as session, session.begin():
                await sync(session, directory, pii, now=dt.datetime.now(dt.UTC))
            assert await lin_status() == [StudentMatch("211303001", status)], word
    finally:
        await engine.dispose()
