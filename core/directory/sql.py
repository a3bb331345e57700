"""The directory in the bot's own tables (``people``, ``accounts``, ``mailboxes``).

The embedded default and the demo. Lookups work inside the caller's session; see
``SqlDirectory`` for where passwords are written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import accounts, mailboxes
from core.clock import Clock
from core.directory import (
    ChangedMeanwhile,
    DirectoryAccount,
    PasswordRefused,
    PasswordState,
    Refusal,
    StudentMatch,
    TargetKind,
    WrongPassword,
    student_ids_found,
)
from core.models import Account, Mailbox, Person, StudentRecord
from core.passwords import PasswordHasher
from core.profiles import Profile


class SqlDirectory:
    """``Directory`` over today's tables, reusing ``core.accounts``.

    Lookups run in the caller's session. Given ``sessions``, the password methods run in
    short sessions of their own instead, with argon2 between them and never inside a
    transaction (SQLite's ``BEGIN IMMEDIATE`` holds the whole database, issue 16.2); the
    write then stores the new hash only if the one read is still there.
    """

    def __init__(
        self,
        session: AsyncSession,
        *,
        profile: Profile,
        hasher: PasswordHasher,
        clock: Clock,
        sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self._session = session
        self._profile = profile
        self._hasher = hasher
        self._clock = clock
        self._sessions = sessions

    find_student_ids = student_ids_found

    async def find_students(
        self, *, id_number_hash: str, birthday_hash: str, degree_level: str
    ) -> list[StudentMatch]:
        # One query whatever the outcome, so a miss costs what a match costs.
        rows = await self._session.execute(
            select(StudentRecord.student_id, StudentRecord.status)
            .join(Person, StudentRecord.person_id == Person.id)
            .where(
                Person.id_number_hash == id_number_hash,
                Person.birthday_hash == birthday_hash,
                StudentRecord.degree_level == degree_level,
            )
            .order_by(StudentRecord.entry_year.desc(), StudentRecord.student_id)
        )
        return [StudentMatch(student_id, status) for student_id, status in rows]

    async def find_target(
        self, name: str, *, id_number_hash: str | None
    ) -> DirectoryAccount | None:
        target = await accounts.find_target(
            self._session, self._profile, name=name, id_number_hash=id_number_hash
        )
        return None if target is None else _account(target)

    async def account(self, subject: str) -> DirectoryAccount | None:
        target = await accounts.target_of(self._session, self._profile, subject)
        return None if target is None else _account(target)

    @contextlib.asynccontextmanager
    async def _own(self) -> AsyncIterator[AsyncSession]:
        """A short session of its own when it has a session factory, else the caller's.

        A caller already in a transaction (a chat turn) is read in: under SQLite that
        transaction holds the database's write lock, which a second session would wait on.
        """
        if self._sessions is None or self._session.in_transaction():
            yield self._session
            return
        async with self._sessions() as session:
            yield session

    async def _hashes(self, account: DirectoryAccount, depth: int) -> list[str]:
        async with self._own() as session:
            return await accounts.password_hashes(session, _target(account), depth)

    async def verify_password(self, account: DirectoryAccount, password: str) -> bool:
        hashes = await self._hashes(account, 0)
        return bool(hashes) and await self._hasher.verify(hashes[0], password)

    async def reset_password(self, account: DirectoryAccount, new_password: str) -> None:
        target = _target(account)
        depth = max(self._profile.password_policy.history, 1)
        hashes = await self._hashes(account, depth)
        # "Not the last N": the current password is the first of them (seed 003). They are
        # verified side by side in the hashing pool, not one argon2 after another.
        if await self._hasher.matches_any(hashes[:depth], new_password):
            raise PasswordRefused(Refusal.IN_HISTORY, self._profile.password_policy)
        new_hash = await self._hasher.hash(new_password)
        now = self._clock.now()
        read = hashes[0] if hashes else None
        if self._sessions is None:
            stored_it = await accounts.replace_password_hash(
                self._session, target, read, new_hash, now=now
            )
        else:
            async with self._sessions() as session, session.begin():
                stored_it = await accounts.replace_password_hash(
                    session, target, read, new_hash, now=now
                )
        if not stored_it:
            raise ChangedMeanwhile()

    async def change_password(
        self, account: DirectoryAccount, current_password: str, new_password: str
    ) -> None:
        if not await self.verify_password(account, current_password):
            raise WrongPassword()
        await self.reset_password(account, new_password)

    async def password_state(self, account: DirectoryAccount) -> PasswordState:
        kind, _, key = account.ref.partition(":")
        async with self._own() as session:
            if kind == TargetKind.MAILBOX:
                mailbox = await session.get(Mailbox, int(key))
                return PasswordState(
                    changed_at=_aware(mailbox.password_changed_at if mailbox else None)
                )
            row = await session.get(Account, int(key))
            if row is None:
                return PasswordState(changed_at=None)
            return PasswordState(
                changed_at=_aware(row.password_changed_at), must_change=row.must_change
            )

    async def personal_words(self, account: DirectoryAccount) -> list[str]:
        async with self._own() as session:
            return await accounts.personal_words(session, _target(account))

    async def accounts_of(self, owner: str) -> list[DirectoryAccount]:
        if not owner.isdigit():
            return []
        found = []
        for name in await accounts.account_names(self._session, person_of_owner(owner)):
            account = await self.find_target(name, id_number_hash=None)
            if account is not None:
                found.append(account)
        return found

    async def owner_by_address(self, address: str) -> str | None:
        person_id = await accounts.person_by_address(self._session, address)
        return None if person_id is None else owner_of_person(person_id)

    async def mailboxes_of(self, owner: str) -> list[DirectoryAccount]:
        if not owner.isdigit():
            return []
        found = []
        for address in await mailboxes.addresses_of(self._session, person_of_owner(owner)):
            mailbox = await self.find_target(address, id_number_hash=None)
            if mailbox is not None:  # a disabled one is no target
                found.append(mailbox)
        return found


def owner_of_person(person_id: int) -> str:
    """The ``DirectoryAccount.owner`` of a person in the bot's tables: the row's id."""
    return str(person_id)


def person_of_owner(owner: str) -> int:
    """The ``people`` row an owner of this backend names."""
    return int(owner)


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives back naive datetimes; they were stored in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment


def _account(target: accounts.Target) -> DirectoryAccount:
    return DirectoryAccount(
        kind=TargetKind(target.kind),
        ref=target.subject,
        name=target.name,
        owner=owner_of_person(target.person_id),
        send_to=target.send_to,
        suspended=target.suspended,
        notice=target.notice,
    )


def _target(account: DirectoryAccount) -> accounts.Target:
    """The ``core.accounts`` target a SQL reference names."""
    kind, _, key = account.ref.partition(":")
    return accounts.Target(
        kind=kind,
        id=int(key),
        name=account.name,
        person_id=person_of_owner(account.owner),
        send_to=account.send_to,
        suspended=account.suspended,
        notice=account.notice,
    )
