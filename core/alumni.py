"""Staff decisions on alumni account applications (seed 003): approve or reject.

Approving creates the account B + student ID + 00 (the profile's format) whose first
password is the ID number with its letters in upper case, to be changed at the first
login (seed 003); the applicant is told in the chat they applied from and by mail, in
the language they applied in, as they are when an application is rejected.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.directory_import import AccountKind
from core.errors import HelpdeskError
from core.i18n import N_, Translator
from core.mail import enqueue
from core.models import (
    Account,
    AlumniApplication,
    ApplicationStatus,
    ChatNotice,
    Person,
    RecordStatus,
    Role,
    StudentRecord,
)
from core.profiles import Profile

MAX_REASON = 500  # AlumniApplication.reason
MAIL_SUBJECT = N_("{institution}: your application for an alumni account")
APPROVED = N_(
    "Your application for an alumni account (number {number}) was approved. Your account "
    "is {account}. At the first login the password is your ID number (national ID or "
    "resident certificate number) with its letters in upper case, and you must change it "
    "at that login."
)
REJECTED = N_(
    "Your application for an alumni account (number {number}) was not approved. Reason: {reason}"
)


class DecisionRefused(HelpdeskError):
    """A staff decision cannot be made; the message (English) says why."""


async def pending_applications(session: AsyncSession) -> list[AlumniApplication]:
    """The applications waiting for review, oldest first."""
    rows = await session.scalars(
        select(AlumniApplication)
        .where(AlumniApplication.status == ApplicationStatus.PENDING)
        .order_by(AlumniApplication.id)
    )
    return list(rows)


async def _pending(session: AsyncSession, number: int) -> AlumniApplication:
    application = await session.get(AlumniApplication, number, with_for_update=True)
    if application is None:
        raise DecisionRefused(f"No application {number}.")
    if application.status != ApplicationStatus.PENDING:
        raise DecisionRefused(f"Application {number} is {application.status}, not pending.")
    return application


def _tell(
    session: AsyncSession,
    profile: Profile,
    application: AlumniApplication,
    now: dt.datetime,
    msgid: str,
    /,
    **params: object,
) -> None:
    """Tell the applicant in the chat they applied from and by mail, in their language."""
    t = Translator(application.locale)
    session.add(
        ChatNotice(
            channel=application.channel,
            chat_id=application.chat_id,
            text=t._(msgid, **params),
            created_at=now,
        )
    )
    enqueue(
        session,
        to=application.email,
        subject=t._(MAIL_SUBJECT, institution=profile.display_name.get(application.locale)),
        body=t._(msgid, **params),
        now=now,
    )


async def _person(
    session: AsyncSession, application: AlumniApplication, now: dt.datetime
) -> Person:
    """The directory person with the applicant's ID number, or a new alumnus."""
    person = await session.scalar(
        select(Person)
        .where(Person.id_number_hash == application.id_number_hash)
        .order_by(Person.id)
        .limit(1)
    )
    if person is not None:
        if person.notification_email is None:
            person.notification_email = application.email
        return person
    person = Person(
        name_zh=application.name_zh,
        name_en=application.name_en,
        role=Role.ALUMNUS,
        id_number_hash=application.id_number_hash,
        birthday_hash=application.birthday_hash,
        id_number_masked=application.id_number_masked,
        notification_email=application.email,
        created_at=now,
    )
    session.add(person)
    await session.flush()
    return person


async def approve(
    session: AsyncSession, number: int, *, profile: Profile, now: dt.datetime, actor: str
) -> str:
    """Approve application ``number``: create the alumni account, tell the applicant.

    Returns the new account's name; raises ``DecisionRefused`` when it cannot be made.
    """
    application = await _pending(session, number)
    username = profile.accounts.alumni_account_for(application.student_id)
    if username is None:
        raise DecisionRefused("The profile has no alumni account format.")
    if await session.scalar(select(Account.id).where(Account.username == username)):
        raise DecisionRefused(f"The account {username} already exists.")
    record = await session.scalar(
        select(StudentRecord).where(StudentRecord.student_id == application.student_id)
    )
    person = await _person(session, application, now)
    if record is not None and record.person_id != person.id:
        raise DecisionRefused(
            f"Student ID {application.student_id} belongs to another person in the directory."
        )
    if record is None:
        session.add(
            StudentRecord(
                person_id=person.id,
                student_id=application.student_id,
                degree_level=application.degree_level,
                department=application.department,
                entry_year=application.entry_year,
                status=RecordStatus.GRADUATED,
            )
        )
    # Seed 003: the first password is the ID number (hashed when the applicant typed
    # it) and must be changed at the first login. No chat is linked.
    session.add(
        Account(
            person_id=person.id,
            username=username,
            kind=AccountKind.ALUMNI,
            password_hash=application.default_password_hash,
            password_changed_at=now,
            must_change=True,
        )
    )
    application.status = ApplicationStatus.APPROVED
    application.account = username
    application.decided_at = now
    audit.record(
        session,
        at=now,
        channel="cli",
        actor=actor,
        flow="alumni_admin",
        action="approve",
        outcome="done",
        application=application.id,
        person=person.id,
    )
    _tell(session, profile, application, now, APPROVED, number=number, account=username)
    return username


async def reject(
    session: AsyncSession,
    number: int,
    *,
    reason: str,
    profile: Profile,
    now: dt.datetime,
    actor: str,
) -> None:
    """Reject application ``number``, telling the applicant ``reason``."""
    application = await _pending(session, number)
    application.status = ApplicationStatus.REJECTED
    application.reason = reason
    application.decided_at = now
    audit.record(
        session,
        at=now,
        channel="cli",
        actor=actor,
        flow="alumni_admin",
        action="reject",
        outcome="done",
        application=application.id,
    )
    _tell(session, profile, application, now, REJECTED, number=number, reason=reason)
