"""Loading the directory: people added once each, with accounts and the mailboxes they have."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_engine, session_factory
from core.directory_import import ImportReport, ImportRow, import_rows
from core.idnumbers import make_valid
from core.migrate import upgrade
from core.models import Account, Base, Mailbox, Person, RecordStatus, StudentRecord
from core.passwords import PasswordHasher
from core.pii import PiiHasher
from tests.core.directory_rows import DEMO, GOOD, HEADER, NOW, STUDENT_ID, parse

PASSWORD_HASH = PasswordHasher(time_cost=2, memory_kib=19456, parallelism=1).hash_sync("x")
PII = PiiHasher(b"a test key of at least sixteen bytes")


PASSWORD_HASH = PasswordHasher(time_cost=2, memory_kib=19456, parallelism=1).hash_sync("x")
PII = PiiHasher(b"a test key of at least sixteen bytes")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def engine(db_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    yield engine
    await engine.dispose()


async def load(engine: AsyncEngine, rows: list[ImportRow]) -> ImportReport:
    async with session_factory(engine)() as session, session.begin():
        return await import_rows(
            session, rows, profile=DEMO, pii=PII, password_hash=PASSWORD_HASH, now=NOW
        )


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with session_factory(engine)() as session:
        return {
            table.name: await session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


async def test_importing_a_good_file_adds_people_with_accounts_and_campus_mailboxes(
    engine: AsyncEngine,
) -> None:
    rows, _ = parse(GOOD)
    done: list[int] = []

    async with session_factory(engine)() as session, session.begin():
        report = await import_rows(
            session,
            rows,
            profile=DEMO,
            pii=PII,
            password_hash=PASSWORD_HASH,
            now=NOW,
            progress=done.append,
        )

    assert report == ImportReport(added=4, students=2, staff=1, alumni=1, mailboxes=2)
    assert done == [1, 2, 3, 4]
    async with session_factory(engine)() as session:
        by_hash = Person.id_number_hash == PII.id_number(STUDENT_ID)
        student = (await session.scalars(select(Person).where(by_hash))).one()
        assert student.birthday_hash == PII.birthday(dt.date(2003, 4, 5))
        assert student.notification_email == "zihan.zhou@example.com"
        usernames = dict((await session.execute(select(Account.username, Account.kind))).all())
        addresses = set(await session.scalars(select(Mailbox.address)))
        statuses = dict(
            (await session.execute(select(StudentRecord.student_id, StudentRecord.status))).all()
        )
    assert usernames == {
        "111403101": "portal",
        "shu-fen.guo": "staff",
        "B10950110200": "alumni",
        "311203103": "portal",
    }
    assert addresses == {
        "a111403101@grad.demo.edu.tw",
        "a311203103@grad.demo.edu.tw",
    }
    assert statuses["109501102"] == RecordStatus.GRADUATED
    assert statuses["311203103"] == RecordStatus.RETURNING


async def test_importing_the_same_file_twice_adds_nothing(engine: AsyncEngine) -> None:
    rows, _ = parse(GOOD)
    await load(engine, rows)
    counts = await row_counts(engine)

    again, _ = parse(GOOD)
    report = await load(engine, again)

    assert report == ImportReport(existing=4)
    assert await row_counts(engine) == counts


async def test_a_student_id_already_present_is_skipped(engine: AsyncEngine) -> None:
    rows, _ = parse(GOOD[:2])
    await load(engine, rows)

    other, _ = parse([HEADER, GOOD[1].replace(STUDENT_ID, make_valid("T12398765"))])
    report = await load(engine, other)

    assert report == ImportReport(existing=1)


async def test_a_staff_member_without_a_mailbox_column_is_imported_without_a_mailbox(
    engine: AsyncEngine,
) -> None:
    # Seed 004 is a new hire applying for her first mailbox: the import used to give
    # every staff member one, so no staff member could ever apply.
    rows, _ = parse([HEADER, GOOD[2]])
    report = await load(engine, rows)

    assert report == ImportReport(added=1, staff=1, mailboxes=0)
    async with session_factory(engine)() as session:
        assert list(await session.scalars(select(Mailbox.address))) == []
        assert list(await session.scalars(select(Account.username))) == ["shu-fen.guo"]


async def test_the_mailbox_column_gives_the_directorys_real_mailbox(engine: AsyncEngine) -> None:
    header = HEADER + ",mailbox"
    rows, errors = parse(
        [
            header,
            GOOD[1] + ",",
            GOOD[2] + ",SF.Guo@demo.edu.tw",
            GOOD[4] + ",an.nguyen@mail.example.edu",
        ]
    )
    assert errors == []
    await load(engine, rows)

    async with session_factory(engine)() as session:
        addresses = set(await session.scalars(select(Mailbox.address)))
        usernames = set(await session.scalars(select(Account.username)))
    # A student without one still gets the campus mailbox the profile derives.
    assert addresses == {
        "a111403101@grad.demo.edu.tw",
        "sf.guo@demo.edu.tw",
        "an.nguyen@mail.example.edu",
    }
    assert "sf.guo" in usernames
