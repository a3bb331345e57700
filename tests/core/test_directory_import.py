"""Directory CSV import: every row checked first, errors by line without personal data."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_engine, session_factory
from core.directory_import import (
    COLUMNS,
    ImportReport,
    ImportRow,
    RowError,
    import_rows,
    parse_rows,
)
from core.idnumbers import make_valid
from core.migrate import upgrade
from core.models import Account, Base, Mailbox, Person, RecordStatus, Role, StudentRecord
from core.passwords import PasswordHasher
from core.pii import PiiHasher
from core.profiles import load_profile

PASSWORD_HASH = PasswordHasher(time_cost=2, memory_kib=19456, parallelism=1).hash_sync("x")
PII = PiiHasher(b"a test key of at least sixteen bytes")
NOW = dt.datetime(2026, 9, 1, 3, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
DEMO = load_profile("demo")

HEADER = ",".join(name for name in COLUMNS if name != "mailbox")
STUDENT_ID = make_valid("P12233445")
STAFF_ID = make_valid("R22001133")
ALUMNUS_ID = make_valid("S11002200")
RESIDENT_ID = make_valid("Q81234567")
WRONG_CHECK_DIGIT = STAFF_ID[:-1] + str((int(STAFF_ID[-1]) + 1) % 10)

GOOD = [
    HEADER,
    f"{STUDENT_ID},2003-04-05,周子涵,Zhou Zi-Han,student,111403101,bachelor,資訊工程學系,2025,"
    "enrolled,zihan.zhou@example.com",
    f"{STAFF_ID},1975/6/7,郭淑芬,Guo Shu-Fen,staff,,,,,,",
    f"{ALUMNUS_ID},75/08/09,許建文,Xu Jian-Wen,alumnus,109501102,master,教育學系,95,graduated,",
    f"{RESIDENT_ID},19990101,阮氏秋,Nguyen Thi Thu,student,311203103,doctoral,教育學系,112,"
    "returning,",
]


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


def parse(lines: list[str]) -> tuple[list[ImportRow], list[RowError]]:
    return parse_rows(lines, profile=DEMO, today=TODAY)


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


def assert_no_personal_data(errors: list[RowError], *values: str) -> None:
    for error in errors:
        for value in values:
            assert value not in error.reason


def test_a_good_file_parses_without_errors() -> None:
    rows, errors = parse(GOOD)

    assert errors == []
    assert [row.line for row in rows] == [2, 3, 4, 5]
    assert [row.role for row in rows] == [Role.STUDENT, Role.STAFF, Role.ALUMNUS, Role.STUDENT]
    assert rows[0].birthday == dt.date(2003, 4, 5)
    assert rows[2].birthday == dt.date(1986, 8, 9)  # ROC 75
    assert rows[2].entry_year == 2006  # ROC 95
    assert rows[1].student_id is None and rows[1].status is None
    assert "2003" not in repr(rows[0]) and STUDENT_ID not in repr(rows[0])


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


def test_bad_rows_are_reported_by_line_and_reason_without_the_values() -> None:
    future = (TODAY + dt.timedelta(days=30)).isoformat()
    lines = [
        HEADER,
        GOOD[1],
        GOOD[2].replace(STAFF_ID, WRONG_CHECK_DIGIT),
        GOOD[3].replace("75/08/09", future),
        GOOD[4],
    ]

    rows, errors = parse(lines)

    assert errors == [
        RowError(3, "id_number: the check digit does not match"),
        RowError(4, "birthday: in the future"),
    ]
    assert [row.line for row in rows] == [2, 5]
    assert_no_personal_data(errors, WRONG_CHECK_DIGIT, future, ALUMNUS_ID)


def test_full_width_id_numbers_and_a_bom_are_accepted() -> None:
    full_width = STUDENT_ID.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    text = "\ufeff" + "\n".join([GOOD[0], GOOD[1].replace(STUDENT_ID, full_width)]) + "\n"

    rows, errors = parse_rows(io.StringIO(text), profile=DEMO, today=TODAY)

    assert full_width != STUDENT_ID
    assert errors == []
    assert rows[0].id_number.value == STUDENT_ID


def test_duplicates_within_the_file_are_reported() -> None:
    other = make_valid("T12398765")
    lines = [
        *GOOD,
        GOOD[1].replace(STUDENT_ID, other),  # same student ID as line 2
        GOOD[2].replace("郭淑芬", "郭淑華"),  # same ID number as line 3
    ]

    rows, errors = parse(lines)

    assert errors == [
        RowError(6, "student_id: the same student ID is already on line 2"),
        RowError(7, "id_number: the same ID number is already on line 3"),
    ]
    assert len(rows) == 4
    assert_no_personal_data(errors, other, STAFF_ID)


def test_missing_and_unknown_columns_are_an_error_on_line_one() -> None:
    header = HEADER.replace(",email", ",e_mail")

    rows, errors = parse([header, GOOD[1].removesuffix(",zihan.zhou@example.com") + ","])

    assert rows == []
    assert errors == [RowError(1, "header: columns missing: email; unknown: e_mail")]


def test_a_file_without_header_does_not_echo_its_first_row() -> None:
    rows, errors = parse(GOOD[1:])

    assert rows == [] and [error.line for error in errors] == [1]
    assert_no_personal_data(errors, STUDENT_ID, "2003-04-05")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("student,", "teacher,"), "role: must be student, staff or alumnus"),
        (("111403101", "11140310"), "student_id: does not match the profile's student ID format"),
        (("bachelor", "postdoc"), "degree_level: not one of the profile's levels"),
        ((",2025,", ",1850,"), "entry_year: must be a year from 1945"),
        (("enrolled", "expelled"), "status: must be enrolled, suspended"),
        (("zihan.zhou@example.com", "not-an-address"), "email: not an e-mail address"),
        (("周子涵", ""), "name_zh: empty"),
        (("111403101", ""), "student_id: required for a student"),
    ],
)
def test_each_field_is_checked(change: tuple[str, str], reason: str) -> None:
    rows, errors = parse([HEADER, GOOD[1].replace(*change)])

    assert rows == []
    assert len(errors) == 1 and errors[0].line == 2
    assert errors[0].reason.startswith(reason)


def test_staff_rows_must_not_carry_enrolment_columns() -> None:
    rows, errors = parse([HEADER, GOOD[2].replace(",,,,,,", ",,,資訊工程學系,,,")])

    assert rows == []
    assert errors == [RowError(2, "department: must be empty for staff")]


def test_an_alumnus_record_must_be_graduated() -> None:
    rows, errors = parse([HEADER, GOOD[3].replace("graduated", "enrolled")])

    assert rows == []
    assert errors == [RowError(2, "status: an alumnus's record must be graduated")]


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


def test_a_mailbox_that_is_not_an_address_is_refused() -> None:
    _, errors = parse([HEADER + ",mailbox", GOOD[2] + ",not-an-address"])
    assert errors == [RowError(2, "mailbox: not an e-mail address")]
