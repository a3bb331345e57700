"""The local index of an LDAP directory, for lookups by ID number and birthday.

Why an index rather than a search: our hashes are keyed (``core.pii``), so the
directory cannot be searched by them; a search by the clear number would need it in
clear at lookup time and would write it into the directory server's access log and
onto the wire; and a local query costs the same whether it matches or not, which keeps
the enumeration guarantee with no directory round trip in the path.

``sync`` reads the whole directory the first time, then only entries whose
``modifyTimestamp`` is at or after the newest one already indexed, and lists the DNs
(no attributes) to drop entries that are gone. It reads the directory with no
transaction open and writes the index in one short transaction afterwards.

An alumni entry the bot writes on approval (``core.alumni``) cannot carry the ID number:
the application keeps it only as a keyed hash. Approving indexes the entry from the
application's hashes instead (``IndexSource.APPROVAL``); the sync keeps that row while
the entry exists and lacks an ID number of its own, and drops it with the entry. A
reset's proof of ownership (``LdapDirectory.find_target``) reads it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.directory import StudentMatch, student_ids_found
from core.directory.ldap import LdapDirectory, first, ldap_time
from core.models import DirectoryIndexEntry, IndexSource, RecordStatus
from core.pii import PiiHasher
from core.profiles import Profile

Progress = Callable[[int, int], None]  # (entries done, entries in this pass)
_SYNCED = ("id_number_hash", "birthday_hash", "student_id", "degree_level", "status")


@dataclass
class SyncReport:
    """What one sync changed."""

    added: int = 0
    updated: int = 0  # rows whose indexed facts changed
    removed: int = 0
    unchanged: int = 0  # entries read again whose indexed facts are the same
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
    sessions: async_sessionmaker[AsyncSession],
    directory: LdapDirectory,
    pii: PiiHasher,
    *,
    now: dt.datetime,
    full: bool = False,
    progress: Progress | None = None,
) -> SyncReport:
    """Bring ``directory_index`` up to date with the directory.

    The directory is read with no transaction open, then the index is written in one
    short transaction of its own: under SQLite every transaction holds the database's
    write lock, and a directory that is slow or down (up to its connect timeouts) must
    not stall every chat turn meanwhile. The caller holds no transaction either.
    """
    async with sessions() as session:
        since = None if full else await session.scalar(_last_modified())
        known = set(await session.scalars(select(DirectoryIndexEntry.dn)))
    entries = await directory.entries(since=since)
    # modifyTimestamp never shows a deletion: list the DNs still there.
    present = set(await directory.dns()) if since is not None else {dn for dn, _ in entries}
    names = directory.profile.directory.attributes.model_dump()
    statuses = status_values(directory.profile)
    read = [
        (dn, _index_row(dn, attributes, names, statuses, pii, now=now))
        for dn, attributes in entries
    ]
    async with sessions() as session, session.begin():
        return await _write(
            session,
            read,
            present=present,
            known=known,
            now=now,
            progress=progress,
            full=since is None,
        )


def _last_modified() -> Select[dt.datetime]:
    """Where the last sync stopped: the newest ``modifyTimestamp`` read from an entry.

    Rows from approvals are dated when the bot wrote them, not by the directory.
    """
    return select(func.max(DirectoryIndexEntry.modified_at)).where(
        DirectoryIndexEntry.source == IndexSource.SYNC
    )


async def _write(
    session: AsyncSession,
    read: list[tuple[str, DirectoryIndexEntry | None]],
    *,
    present: set[str],
    known: set[str],
    now: dt.datetime,
    progress: Progress | None,
    full: bool,
) -> SyncReport:
    """Write what was read into the index, in the caller's transaction.

    ``known``: the DNs indexed before the directory was read. Only those may be dropped
    for missing from ``present``: a row added meanwhile (an approval's new entry,
    another process's sync) names an entry the read may have come too early to see.
    """
    report = SyncReport(full=full)
    existing = {row.dn: row for row in await session.scalars(select(DirectoryIndexEntry))}
    for done, (dn, row) in enumerate(read, start=1):
        old = existing.get(dn)
        if row is None:
            report.skipped += 1
            # An approved alumni entry holds no ID number: its row is the application's.
            if old is not None and old.source == IndexSource.SYNC:
                await session.delete(existing.pop(dn))
                report.removed += 1
        elif old is None:
            session.add(row)
            existing[dn] = row
            report.added += 1
        elif old.source == IndexSource.SYNC and old.modified_at > row.modified_at:
            report.unchanged += 1  # another process indexed a newer state meanwhile
        elif old.source == IndexSource.SYNC and _same(old, row):
            # Read again (its modifyTimestamp is the newest one, or a full sync) with no
            # indexed fact changed: the row stays as it is, but for a newer stamp alone
            # (a password change), kept so the next incremental sync starts after it.
            if old.modified_at < row.modified_at:
                old.modified_at = row.modified_at
            report.unchanged += 1
        else:
            for column in _SYNCED:
                setattr(old, column, getattr(row, column))
            # The entry now says whose it is: the directory is the record.
            old.modified_at, old.synced_at, old.source = row.modified_at, now, IndexSource.SYNC
            report.updated += 1
        if progress is not None:
            progress(done, len(read))
    gone = [dn for dn in existing if dn in known and dn not in present]
    for start in range(0, len(gone), 500):
        await session.execute(
            delete(DirectoryIndexEntry).where(DirectoryIndexEntry.dn.in_(gone[start : start + 500]))
        )
    report.removed += len(gone)
    await session.flush()
    return report


async def index_is_empty(session: AsyncSession) -> bool:
    """Whether no entry is indexed yet: no sync has run (or it found no one), so every
    lookup by ID number and birthday finds nothing."""
    return await session.scalar(select(DirectoryIndexEntry.dn).limit(1)) is None


def _same(old: DirectoryIndexEntry, new: DirectoryIndexEntry) -> bool:
    """Whether a row already holds every indexed fact of the entry as read now."""
    return all(getattr(old, column) == getattr(new, column) for column in _SYNCED)


async def index_approved(
    session: AsyncSession,
    dn: str,
    *,
    id_number_hash: str,
    birthday_hash: str,
    degree_level: str | None,
    now: dt.datetime,
) -> None:
    """Index an entry written for an approved application by the application's hashes.

    The row proves ownership only (a reset by ID number finds the account): it names no
    student ID, so student-ID lookups keep answering from the person's own entries.
    """
    await session.merge(
        DirectoryIndexEntry(
            dn=dn,
            id_number_hash=id_number_hash,
            birthday_hash=birthday_hash,
            student_id=None,
            degree_level=degree_level,
            status=None,
            modified_at=now,
            synced_at=now,
            source=IndexSource.APPROVAL,
        )
    )


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
        source=IndexSource.SYNC,
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

    async def approved_id_number(self, dn: str) -> str | None:
        """The ID-number hash an approved application gave the entry ``dn``, if any.

        Only rows of approvals: an entry the sync indexed proves its owner by its own
        attribute, read from the directory when asked.
        """
        async with self._reading() as session:
            found: str | None = await session.scalar(
                select(DirectoryIndexEntry.id_number_hash).where(
                    DirectoryIndexEntry.dn == dn,
                    DirectoryIndexEntry.source == IndexSource.APPROVAL,
                )
            )
            return found

    find_student_ids = student_ids_found

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
