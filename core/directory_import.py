"""Load people into the directory: rows read by ``core.directory_csv``, added once each."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.directory_csv import COLUMNS, ImportRow, RowError, entry_year, parse_rows
from core.mailbox_names import free_names
from core.models import (
    Account,
    Mailbox,
    MailboxCondition,
    Person,
    RecordStatus,
    Role,
    StudentRecord,
)
from core.pii import PiiHasher
from core.profiles import Profile

# The reading half keeps its old address for the CLI and the tests.
__all__ = [
    "COLUMNS",
    "AccountKind",
    "DirectoryKeys",
    "ImportReport",
    "ImportRow",
    "RowError",
    "add_person",
    "entry_year",
    "import_rows",
    "parse_rows",
]

# Rows added between flushes, so a progress bar moves while the database works.
_FLUSH_EVERY = 200

# Enough for the IN lists of one query on every backend (SQLite allows 32766 parameters).
_CHUNK = 500


class AccountKind(StrEnum):
    """What an Account is a login for."""

    PORTAL = "portal"
    ALUMNI = "alumni"
    STAFF = "staff"


@dataclass
class ImportReport:
    """What an import added and what it found already present."""

    added: int = 0
    existing: int = 0
    students: int = 0
    staff: int = 0
    alumni: int = 0
    mailboxes: int = 0


@dataclass
class DirectoryKeys:
    """Unique values already taken, in the database or earlier in this batch."""

    id_hashes: set[str] = field(default_factory=set)
    student_ids: set[str] = field(default_factory=set)
    usernames: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)

    @classmethod
    async def load(
        cls, session: AsyncSession, *, id_hashes: Collection[str], student_ids: Collection[str]
    ) -> DirectoryKeys:
        """Read which of these keys exist, and every account name and mailbox address."""
        keys = cls()
        for column, wanted, found in (
            (Person.id_number_hash, list(id_hashes), keys.id_hashes),
            (StudentRecord.student_id, list(student_ids), keys.student_ids),
        ):
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                found.update(await session.scalars(select(column).where(column.in_(chunk))))
        keys.usernames.update(await session.scalars(select(Account.username)))
        keys.addresses.update(a.lower() for a in await session.scalars(select(Mailbox.address)))
        return keys


def _free_staff_name(name_en: str, keys: DirectoryKeys) -> str:
    """A staff account name from the passport name (``core.mailbox_names``), never one taken."""
    taken = keys.usernames | {address.split("@")[0] for address in keys.addresses}
    for name in free_names(name_en, taken, limit=1):
        return name
    raise ValueError("no free account name for this passport name")


def add_person(
    session: AsyncSession,
    row: ImportRow,
    keys: DirectoryKeys,
    *,
    profile: Profile,
    pii: PiiHasher,
    password_hash: str,
    now: dt.datetime,
) -> Person | None:
    """Add one person with their record, account and mailbox; None if already present.

    The mailbox is the one the directory names (``row.mailbox``); without one a student
    gets the campus mailbox the profile derives from the student ID, and staff none: a
    new hire applies for one in the chat (seed 004).
    """
    id_hash = pii.id_number(row.id_number.value)
    username: str | None = None
    address: str | None = row.mailbox
    kind = AccountKind.STAFF
    if row.role is Role.STAFF:
        username = address.split("@")[0] if address else _free_staff_name(row.name_en, keys)
    elif row.student_id is not None and row.role is Role.ALUMNUS:
        kind, username = AccountKind.ALUMNI, profile.accounts.alumni_account_for(row.student_id)
    elif row.student_id is not None:
        kind, username = AccountKind.PORTAL, row.student_id
        # A profile without a campus mail format gets no student mailbox: we do not guess one.
        address = (
            address or (profile.accounts.campus_mail_for(row.student_id) or "").lower() or None
        )
    if (
        id_hash in keys.id_hashes
        or row.student_id in keys.student_ids
        or username in keys.usernames
        or address in keys.addresses
    ):
        return None

    person = Person(
        name_zh=row.name_zh,
        name_en=row.name_en,
        role=row.role,
        id_number_hash=id_hash,
        birthday_hash=pii.birthday(row.birthday),
        id_number_masked=row.id_number.masked(),
        notification_email=row.email,
        created_at=now,
    )
    keys.id_hashes.add(id_hash)
    if row.student_id is not None:
        if row.degree_level is None or row.department is None or row.entry_year is None:
            raise ValueError("a student ID needs a degree level, department and entry year")
        keys.student_ids.add(row.student_id)
        person.records.append(
            StudentRecord(
                student_id=row.student_id,
                degree_level=row.degree_level,
                department=row.department,
                entry_year=row.entry_year,
                status=row.status or RecordStatus.ENROLLED,
            )
        )
    if username is not None:
        keys.usernames.add(username)
        # Seed 003, DESIGN.md: a school-set first password must be changed at first login.
        person.accounts.append(
            Account(
                username=username,
                kind=kind,
                password_hash=password_hash,
                password_changed_at=now,
                must_change=True,
            )
        )
    if address is not None:
        keys.addresses.add(address)
        person.mailboxes.append(
            Mailbox(
                address=address,
                condition=MailboxCondition.NORMAL,
                quota_used_kb=0,
                quota_limit_kb=profile.mail.default_quota_kb,
                notification_address=row.email,
                password_hash=password_hash,
                password_changed_at=now,
                created_at=now,
            )
        )
    session.add(person)
    return person


async def import_rows(
    session: AsyncSession,
    rows: Iterable[ImportRow],
    *,
    profile: Profile,
    pii: PiiHasher,
    password_hash: str,
    now: dt.datetime,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Add the rows in the caller's transaction; ``progress`` gets the count of rows done."""
    rows = list(rows)
    keys = await DirectoryKeys.load(
        session,
        id_hashes={pii.id_number(row.id_number.value) for row in rows},
        student_ids={row.student_id for row in rows if row.student_id},
    )
    report = ImportReport()
    for done, row in enumerate(rows, start=1):
        person = add_person(
            session, row, keys, profile=profile, pii=pii, password_hash=password_hash, now=now
        )
        if person is None:
            report.existing += 1
        else:
            report.added += 1
            report.mailboxes += len(person.mailboxes)
            if row.role is Role.STUDENT:
                report.students += 1
            elif row.role is Role.STAFF:
                report.staff += 1
            else:
                report.alumni += 1
        if done % _FLUSH_EVERY == 0:
            await session.flush()
        if progress is not None:
            progress(done)
    await session.flush()
    return report
