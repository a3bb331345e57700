"""The local index of an LDAP directory, for lookups by ID number and birthday.

Why an index rather than a search: our hashes are keyed (``core.pii``), so the
directory cannot be searched by them; a search by the clear number would need it in
clear at lookup time and would write it into the directory server's access log and
onto the wire; and a local query costs the same whether it matches or not, which keeps
the enumeration guarantee with no directory round trip in the path.

``sync`` reads the whole directory the first time, then only entries whose
``modifyTimestamp`` is at or after the newest one already indexed, and lists the DNs
(no attributes) to drop entries that are gone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.directory import StudentMatch
from core.directory.ldap import LdapDirectory, first, ldap_time
from core.models import DirectoryIndexEntry, RecordStatus
from core.pii import PiiHasher
from core.profiles import Profile

Progress = Callable[[int, int], None]  # (entries done, entries in this pass)
_SYNCED = ("id_number_hash", "birthday_hash", "student_id", "degree_level", "status")


@dataclass
class SyncReport:
    """What one sync changed."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0  # entries without an ID number or birthday
    full: bool = True


def parse_birthday(text: str | None) -> dt.date | None:
    """A directory birthday (YYYY-MM-DD or YYYYMMDD) as a date; None when unreadable."""
    digits = (text or "").replace("-", "").replace("/", "").strip()
    try:
        return dt.datetime.strptime(digits[:8], "%Y%m%d").date()
    except ValueError:
        return None


async def sync(
    session: AsyncSession,
    directory: LdapDirectory,
    pii: PiiHasher,
    *,
    now: dt.datetime,
    full: bool = False,
    progress: Progress | None = None,
) -> SyncReport:
    """Bring ``directory_index`` up to date with the directory, in the caller's transaction."""
    since = (
        None if full else await session.scalar(select(func.max(DirectoryIndexEntry.modified_at)))
    )
    report = SyncReport(full=since is None)
    entries = await directory.entries(since=since)
    existing = {row.dn: row for row in await session.scalars(select(DirectoryIndexEntry))}
    names = directory.profile.directory.attributes.model_dump()
    statuses = status_values(directory.profile)
    for done, (dn, attributes) in enumerate(entries, start=1):
        row = _index_row(dn, attributes, names, statuses, pii, now=now)
        if row is None:
            report.skipped += 1
            if dn in existing:
                await session.delete(existing.pop(dn))
                report.removed += 1
        elif dn in existing:
            old = existing[dn]
            for column in _SYNCED:
                setattr(old, column, getattr(row, column))
            old.modified_at, old.synced_at = row.modified_at, now
            report.updated += 1
        else:
            session.add(row)
            existing[dn] = row
            report.added += 1
        if progress is not None:
            progress(done, len(entries))
    # modifyTimestamp never shows a deletion: compare the DNs still there with ours.
    present = set(await directory.dns()) if since is not None else {dn for dn, _ in entries}
    gone = [dn for dn in existing if dn not in present]
    for start in range(0, len(gone), 500):
        await session.execute(
            delete(DirectoryIndexEntry).where(DirectoryIndexEntry.dn.in_(gone[start : start + 500]))
        )
    report.removed += len(gone)
    await session.flush()
    return report


def status_values(profile: Profile) -> dict[str, str]:
    """The directory's status values, folded, as ``RecordStatus`` values (profile first)."""
    known = {status.value: status.value for status in RecordStatus}
    given = profile.directory.status_values.items()
    return known | {value.strip().casefold(): status for value, status in given}


def _index_row(
    dn: str,
    attributes: dict[str, Any],
    names: dict[str, str | None],
    statuses: dict[str, str],
    pii: PiiHasher,
    *,
    now: dt.datetime,
) -> DirectoryIndexEntry | None:
    id_number = first(attributes, names["id_number"])
    birthday = parse_birthday(first(attributes, names["birthday"]))
    if not id_number or birthday is None:
        return None
    return DirectoryIndexEntry(
        dn=dn,
        id_number_hash=pii.id_number(id_number.strip()),
        birthday_hash=pii.birthday(birthday),
        student_id=first(attributes, names["student_id"]),
        degree_level=first(attributes, names["degree_level"]),
        # A value the profile does not map (or none) leaves the status unknown: the answer
        # is then the student one, as before the index held statuses.
        status=statuses.get((first(attributes, names["status"]) or "").strip().casefold()),
        modified_at=ldap_time(attributes.get("modifyTimestamp")) or now,
        synced_at=now,
    )


class IndexedStudents:
    """``StudentIndex`` over ``directory_index``.

    Given a step's ``session`` already in a transaction, a lookup reads in it (under
    SQLite that transaction holds the database's write lock, which a second session would
    wait on); otherwise in a short session of its own.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], session: AsyncSession | None = None
    ) -> None:
        self._sessions = sessions
        self._session = session

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncSession]:
        if self._session is not None and self._session.in_transaction():
            yield self._session
            return
        async with self._sessions() as session:
            yield session

    async def find_student_ids(
        self, *, id_number_hash: str, birthday_hash: str, degree_level: str
    ) -> list[str]:
        found = await self.find_students(
            id_number_hash=id_number_hash, birthday_hash=birthday_hash, degree_level=degree_level
        )
        return [match.student_id for match in found]

    async def find_students(
        self, *, id_number_hash: str, birthday_hash: str, degree_level: str
    ) -> list[StudentMatch]:
        """Student IDs with their enrolment status, newest first, in one query."""
        async with self._reading() as session:
            rows = await session.execute(
                select(DirectoryIndexEntry.student_id, DirectoryIndexEntry.status)
                .where(
                    DirectoryIndexEntry.id_number_hash == id_number_hash,
                    DirectoryIndexEntry.birthday_hash == birthday_hash,
                    DirectoryIndexEntry.degree_level == degree_level,
                    DirectoryIndexEntry.student_id.is_not(None),
                )
                .order_by(DirectoryIndexEntry.student_id.desc())
            )
            return [StudentMatch(student_id, status) for student_id, status in rows if student_id]
