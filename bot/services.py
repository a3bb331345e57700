"""The wiring point: real dependencies built from settings, in one place."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock
from core.db import create_engine, session_factory
from core.directory.wiring import Directories
from core.jobs import JobQueue
from core.mail import Mailer, MailWorker, OutboxMailer, SmtpMailer
from core.passwords import PasswordHasher
from core.pii import PiiHasher
from core.profiles import Profile, load_profile
from core.settings import Settings


@dataclass
class Services:
    """What flows and adapters may use; tests build one over a temporary database."""

    settings: Settings
    profile: Profile
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    pii: PiiHasher
    passwords: PasswordHasher
    mail_worker: MailWorker
    directories: Directories  # ``services.directories(session)`` is a step's directory

    @functools.cached_property
    def jobs(self) -> JobQueue:
        """This process's job queue, shared by the adapters and the background rounds."""
        return JobQueue(self.settings)

    async def close(self) -> None:
        if "jobs" in self.__dict__:  # started or not, its pool and worker end here
            await self.jobs.stop()
        await self.directories.close()
        await self.engine.dispose()


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    on_mail_written: Callable[[str, Path], None] | None = None,
) -> Services:
    """Build the real services; a profile with a bad field fails here, at start."""
    profile = load_profile(settings.profile)
    engine = create_engine(settings.sqlalchemy_url)
    sessions = session_factory(engine)
    clock = clock or SystemClock()
    if mailer is None:
        if settings.smtp_host:
            mailer = SmtpMailer.from_settings(settings)
        else:
            mailer = OutboxMailer(settings.outbox_dir, on_written=on_mail_written)
    pii = PiiHasher(settings.pii_key)
    passwords = PasswordHasher.from_settings(settings)
    return Services(
        settings=settings,
        profile=profile,
        engine=engine,
        sessions=sessions,
        clock=clock,
        pii=pii,
        passwords=passwords,
        mail_worker=MailWorker(sessions, mailer, clock, settings.mail_from),
        directories=Directories(
            profile, settings, pii=pii, hasher=passwords, clock=clock, sessions=sessions
        ),
    )
