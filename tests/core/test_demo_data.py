"""The demo directory: fictional, deterministic, idempotent, and no personal data in clear."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import selectinload

from core.db import create_engine, session_factory
from core.demo_data import DEMO_PEOPLE, SeedReport, seed_demo
from core.idnumbers import IdKind, parse_id_number
from core.migrate import upgrade, upgrade_async
from core.models import (
    Account,
    AlumniCard,
    Base,
    CardStatus,
    Mailbox,
    MailboxCondition,
    Person,
    RecordStatus,
    Role,
    StudentRecord,
)
from core.passwords import PasswordHasher
from core.pii import PiiHasher
from core.profiles import Profile, load_profile

PASSWORD_HASH = PasswordHasher(time_cost=2, memory_kib=19456, parallelism=1).hash_sync("x")
PII = PiiHasher(b"a test key of at least sixteen bytes")
NOW = dt.datetime(2026, 9, 1, 3, 0, tzinfo=dt.UTC)
DEMO = load_profile("demo")


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


async def seed(engine: AsyncEngine, profile: Profile = DEMO) -> SeedReport:
    async with session_factory(engine)() as session, session.begin():
        return await seed_demo(
            session, profile=profile, pii=PII, password_hash=PASSWORD_HASH, now=NOW
        )


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with session_factory(engine)() as session:
        return {
            table.name: await session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


async def test_seeding_twice_adds_nothing_the_second_time(engine: AsyncEngine) -> None:
    first = await seed(engine)
    counts = await row_counts(engine)

    second = await seed(engine)

    assert first.people == counts["people"] == first.students + first.staff + first.alumni
    assert 250 <= first.people <= 350
    assert first.cards == counts["alumni_cards"] > 0
    assert first.mailboxes == counts["mailboxes"] > 0
    assert second == SeedReport(skipped=first.people)
    assert await row_counts(engine) == counts


async def test_the_same_directory_is_drawn_on_every_run(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    await seed(engine)
    other_path = tmp_path / "other.db"
    await upgrade_async(f"sqlite+aiosqlite:///{other_path}")
    other = create_engine(f"sqlite+aiosqlite:///{other_path}")
    await seed(other)

    query = select(Person.id_number_hash, Person.name_en).order_by(Person.id)
    async with session_factory(engine)() as one, session_factory(other)() as two:
        assert (await one.execute(query)).all() == (await two.execute(query)).all()
    await other.dispose()


def test_demo_people_have_valid_fictional_id_numbers() -> None:
    kinds = {parse_id_number(person.id_number).kind for person in DEMO_PEOPLE}

    assert IdKind.NATIONAL_ID in kinds and IdKind.RESIDENT_NEW in kinds
    assert not {"A123456789", "F131104093"} & {person.id_number for person in DEMO_PEOPLE}
    assert len({person.id_number for person in DEMO_PEOPLE}) == len(DEMO_PEOPLE)


async def test_demo_people_are_found_by_the_hash_of_their_id_number(engine: AsyncEngine) -> None:
    await seed(engine)

    async with session_factory(engine)() as session:
        for demo in DEMO_PEOPLE:
            by_hash = Person.id_number_hash == PII.id_number(demo.id_number)
            person = (await session.scalars(select(Person).where(by_hash))).one()
            assert (person.name_zh, person.name_en, person.role) == (
                demo.name_zh,
                demo.name_en,
                demo.role,
            )
            assert person.birthday_hash == PII.birthday(demo.birthday)
            assert person.id_number_masked == parse_id_number(demo.id_number).masked()
            records = (
                await session.scalars(
                    select(StudentRecord).where(StudentRecord.person_id == person.id)
                )
            ).all()
            assert [r.student_id for r in records] == ([demo.student_id] if demo.student_id else [])
            conditions = await session.scalars(
                select(Mailbox.condition).where(Mailbox.person_id == person.id)
            )
            assert list(conditions) == ([demo.mailbox] if demo.mailbox else [])


async def test_no_id_number_or_birthday_is_stored_in_clear(
    db_path: Path, engine: AsyncEngine
) -> None:
    await seed(engine)
    await engine.dispose()

    stored = b"".join(
        path.read_bytes() for path in db_path.parent.iterdir() if path.name.startswith("t.db")
    )

    for person in DEMO_PEOPLE:
        assert person.name_zh.encode() in stored  # the bytes read are the data
        assert person.id_number.encode() not in stored
        assert person.birthday.isoformat().encode() not in stored


async def test_the_directory_covers_every_level_status_and_mailbox_condition(
    engine: AsyncEngine,
) -> None:
    await seed(engine)

    async with session_factory(engine)() as session:
        records = (await session.scalars(select(StudentRecord))).all()
        mailboxes = (await session.scalars(select(Mailbox))).all()
        cards = (await session.scalars(select(AlumniCard))).all()
        usernames = set(await session.scalars(select(Account.username)))
        must_change = set(await session.scalars(select(Account.must_change)))

    assert {r.degree_level for r in records} == {level.code for level in DEMO.degree_levels}
    assert {r.status for r in records} >= {
        RecordStatus.ENROLLED,
        RecordStatus.SUSPENDED,
        RecordStatus.RETURNING,
        RecordStatus.GRADUATED,
    }
    assert all(re.fullmatch(DEMO.accounts.student_id_pattern, r.student_id) for r in records)
    assert {r.student_id for r in records} <= usernames | {
        r.student_id for r in records if r.status == RecordStatus.GRADUATED
    }
    assert must_change == {True, False}
    assert {m.condition for m in mailboxes} == {
        MailboxCondition.NORMAL,
        MailboxCondition.SUSPENDED,
        MailboxCondition.PENDING,
    }
    for mailbox in mailboxes:
        assert mailbox.quota_limit_kb == DEMO.mail.default_quota_kb
        assert 0 <= mailbox.quota_used_kb <= mailbox.quota_limit_kb
        if mailbox.condition == MailboxCondition.SUSPENDED:
            assert mailbox.suspended_at is not None and mailbox.suspended_reason
            assert mailbox.suspension_notice and mailbox.address in mailbox.suspension_notice
            assert "疑似異常登入" in mailbox.suspension_notice
        if mailbox.condition == MailboxCondition.PENDING:
            assert mailbox.created_at == NOW
    assert any(m.notification_address for m in mailboxes)
    statuses = [card.status for card in cards]
    assert statuses.count(CardStatus.PENDING) == 1 and CardStatus.ACTIVE in statuses
    assert all(card.valid_until is not None for card in cards)


async def test_a_new_staff_member_has_an_account_and_an_address_but_no_mailbox_yet(
    engine: AsyncEngine,
) -> None:
    # Seed 004's applicant: she links with her account name (the code goes to the
    # address HR gave) and applies for her first mailbox; 黃淑芬 already has a pending one.
    await seed(engine)

    async with session_factory(engine)() as session:
        staff = {
            person.name_en: person
            for person in await session.scalars(
                select(Person)
                .where(Person.role == Role.STAFF)
                .options(selectinload(Person.mailboxes), selectinload(Person.accounts))
            )
        }
    new_hire = staff["Cai Pei-Shan"]
    assert new_hire.mailboxes == []
    assert [account.username for account in new_hire.accounts] == ["pei-shan.cai"]
    assert new_hire.notification_email == "peishan.cai@example.org"
    huang = staff["Huang Shu-Fen"]
    assert [(m.address, m.condition) for m in huang.mailboxes] == [
        ("shu-fen.huang@demo.edu.tw", MailboxCondition.PENDING)
    ]
    others = [person for name, person in staff.items() if name != "Cai Pei-Shan"]
    assert others and all(len(person.mailboxes) == 1 for person in others)


async def test_alumni_have_a_graduated_record_and_an_alumni_account(engine: AsyncEngine) -> None:
    await seed(engine)

    async with session_factory(engine)() as session:
        alumni = (
            await session.execute(
                select(StudentRecord.student_id, StudentRecord.status, Account.username)
                .join(Person, Person.id == StudentRecord.person_id)
                .join(Account, Account.person_id == Person.id)
                .where(Person.role == Role.ALUMNUS)
            )
        ).all()

    assert alumni
    for student_id, status, username in alumni:
        assert status == RecordStatus.GRADUATED
        assert username == DEMO.accounts.alumni_account_for(student_id)


async def test_student_ids_follow_a_profile_with_letter_ids(engine: AsyncEngine) -> None:
    ntu = load_profile("ntu")

    report = await seed(engine, ntu)

    async with session_factory(engine)() as session:
        student_ids = list(await session.scalars(select(StudentRecord.student_id)))
    assert report.people == len(DEMO_PEOPLE) + 293
    assert all(re.fullmatch(ntu.accounts.student_id_pattern, sid) for sid in student_ids)
