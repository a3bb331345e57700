"""The one place that turns a profile's ``[directory]`` into a ``Directory``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.directory import Directory
from core.directory.ad import AdDirectory
from core.directory.ldap import LdapDirectory
from core.directory.sql import SqlDirectory
from core.directory.sync import IndexedStudents
from core.passwords import PasswordHasher
from core.pii import PiiHasher
from core.profiles import Profile
from core.settings import Settings


class Directories:
    """Hands each unit of work its ``Directory``.

    SQL works inside the caller's session (a password set commits with the step); an
    LDAP or AD directory is one shared object with its own connection pool, each step
    getting a view of it whose student-ID lookups read the synced index in the step's
    session (or a short one of their own outside a transaction).
    """

    def __init__(
        self,
        profile: Profile,
        settings: Settings,
        *,
        pii: PiiHasher,
        hasher: PasswordHasher,
        clock: Clock,
        sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        self._profile = profile
        self.hasher = hasher  # the SQL backend's (tests may swap it)
        self._clock = clock
        self._sessions = sessions
        self.remote: LdapDirectory | None = None
        backend = profile.directory.backend
        if backend != "sql":
            password = settings.directory_bind_password
            kind = AdDirectory if backend == "ad" else LdapDirectory
            self.remote = kind(
                profile,
                pii=pii,
                bind_password=password.get_secret_value() if password else None,
                index=IndexedStudents(sessions),
            )

    def __call__(self, session: AsyncSession) -> Directory:
        if self.remote is not None:
            return self.remote.reading_index(IndexedStudents(self._sessions, session))
        return SqlDirectory(
            session,
            profile=self._profile,
            hasher=self.hasher,
            clock=self._clock,
            sessions=self._sessions,
        )

    async def close(self) -> None:
        if self.remote is not None:
            await self.remote.close()
