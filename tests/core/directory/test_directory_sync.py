"""The local index of an LDAP directory: full and incremental sync, deletions, lookups."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from core.db import create_engine, session_factory
from core.directory import StudentMatch
from core.directory.ldap import LdapDirectory
from core.directory.sync import IndexedStudents, index_approved, parse_birthday, sync
from core.models import DirectoryIndexEntry, IndexSource
from core.pii import PiiHasher
from tests.core.directory.conftest import ldap_directory, pointed_at
from tests.ldap_server import PEOPLE, SERVICE_PASSWORD, SlapdServer, ldap_profile

LIN_ID, LIN_BIRTHDAY = "A128573490", dt.date(2001, 3, 14)


@pytest.fixture
async def directory(own_slapd: SlapdServer, pii: PiiHasher) -> AsyncIterator[LdapDirectory]:
    built = ldap_directory(pii, own_slapd.uri)
    yield built
    await built.close()


async def test_a_synced_index_finds_the_student_id_by_id_number_and_birthday(
    database_url: str, directory: LdapDirectory, pii: PiiHasher
) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        report = await sync(sessions, directory, pii, now=dt.datetime.now(dt.UTC))
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
        first = await sync(sessions, directory, pii, now=dt.datetime.now(dt.UTC))
        lin = own_slapd.account("211303001")
        own_slapd.as_root(lin.dn, {"campusBirthday": [("MODIFY_REPLACE", ["2001-03-15"])]})
        gone = own_slapd.account("111201002")
        own_slapd.delete(gone.dn)
        second = await sync(sessions, directory, pii, now=dt.datetime.now(dt.UTC))
        async with sessions() as session:
            count = await session.scalar(select(func.count()).select_from(DirectoryIndexEntry))
            row = await session.get(DirectoryIndexEntry, lin.dn)
        assert not second.full
        assert second.added == 0 and second.removed == 1
        assert second.updated == 1  # only what changed since the last sync
        assert count == first.added - 1
        assert row is not None and row.birthday_hash == pii.birthday(dt.date(2001, 3, 15))
    finally:
        await engine.dispose()


async def test_a_sync_with_nothing_changed_updates_and_writes_nothing(
    database_url: str, directory: LdapDirectory, pii: PiiHasher
) -> None:
    """After a bulk load every entry carries the newest modifyTimestamp, so the next
    incremental sync reads them all again: none changed, so none is updated or written."""
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    synced = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)
    try:
        first = await sync(sessions, directory, pii, now=synced)
        later = synced + dt.timedelta(minutes=15)
        again = await sync(sessions, directory, pii, now=later)
        full = await sync(sessions, directory, pii, now=later, full=True)
        async with sessions() as session:
            touched = await session.scalar(
                select(func.count())
                .select_from(DirectoryIndexEntry)
                .where(DirectoryIndexEntry.synced_at != synced)
            )
        assert first.added > 300
        assert (again.added, again.updated, again.removed) == (0, 0, 0)
        assert again.unchanged > 0  # it did read them again
        assert (full.added, full.updated, full.removed) == (0, 0, 0)
        assert full.unchanged == first.added
        assert touched == 0
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
        await sync(sessions, directory, pii, now=dt.datetime.now(dt.UTC))
        assert await lin_status() == [StudentMatch("211303001", "enrolled")]  # 在學
        lin = own_slapd.account("211303001")
        for word, status in (("畢業", "graduated"), ("Graduated", "graduated"), ("離校", None)):
            own_slapd.as_root(lin.dn, {"campusStatus": [("MODIFY_REPLACE", [word])]})
            await sync(sessions, directory, pii, now=dt.datetime.now(dt.UTC))
            assert await lin_status() == [StudentMatch("211303001", status)], word
    finally:
        await engine.dispose()


class PausingDirectory(LdapDirectory):
    """The directory, pausing a sync between its read and its write for the test to act."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read = asyncio.Event()
        self.resume = asyncio.Event()

    async def dns(self) -> list[str]:
        found = await super().dns()
        self.read.set()
        await self.resume.wait()
        return found


async def test_an_entry_approved_while_a_sync_reads_keeps_its_row(
    database_url: str, own_slapd: SlapdServer, pii: PiiHasher
) -> None:
    """An alumni entry written and indexed after the sync listed the DNs is not in its
    list, yet the sync must not drop it as deleted; the next sync sees it and keeps it."""
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    profile = pointed_at(ldap_profile(), own_slapd.uri)
    directory = PausingDirectory(profile, pii=pii, bind_password=SERVICE_PASSWORD)
    plain = LdapDirectory(profile, pii=pii, bind_password=SERVICE_PASSWORD)
    dn = f"uid=B21130300100,{PEOPLE}"
    now = dt.datetime.now(dt.UTC)
    try:
        await sync(sessions, plain, pii, now=now)
        syncing = asyncio.create_task(sync(sessions, directory, pii, now=now))
        await directory.read.wait()
        await asyncio.to_thread(_add_alumni_entry, own_slapd, dn)
        async with sessions() as session, session.begin():
            await index_approved(
                session,
                dn,
                id_number_hash=pii.id_number(LIN_ID),
                birthday_hash=pii.birthday(LIN_BIRTHDAY),
                degree_level="master",
                now=now,
            )
        directory.resume.set()
        assert (await syncing).removed == 0
        async with sessions() as session:
            assert await session.get(DirectoryIndexEntry, dn) is not None
        await sync(sessions, plain, pii, now=now)
        async with sessions() as session:
            row = await session.get(DirectoryIndexEntry, dn)
        assert row is not None and row.source == IndexSource.APPROVAL
        assert row.id_number_hash == pii.id_number(LIN_ID)
    finally:
        await directory.close()
        await plain.close()
        await engine.dispose()


def _add_alumni_entry(server: SlapdServer, dn: str) -> None:
    """An entry as an approval writes it: no ID number or birthday."""
    server.add(
        dn,
        {
            "objectClass": ["inetOrgPerson", "campusPerson"],
            "uid": dn.split(",")[0].removeprefix("uid="),
            "cn": "Lin Ming-Zhi",
            "sn": "Lin",
            "campusRole": "alumnus",
        },
    )
