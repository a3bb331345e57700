"""Staff decisions on alumni account applications (seed 003): approve or reject.

Approving creates the account B + student ID + 00 (the profile's format) whose first
password is the ID number with its letters in upper case, to be changed at the first
login (seed 003); the applicant is told in the chat they applied from and by mail, in
the language they applied in, as they are when an application is rejected.

An application is typed by anyone, so it never takes over a directory record: when
its ID number is already in the directory, every difference from that record
(birthday, name, student ID) is a conflict that ``review`` reports before anyone
decides, and approving needs an explicit override, audited with its reason. Approving
never changes an existing person's contact data.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

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
from core.text import fold

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


@dataclass(frozen=True)
class Review:
    """What the directory says about an application, for staff to read before deciding.

    ``conflicts`` can be overridden by an explicit, audited staff decision;
    ``blocked`` cannot (the account or student ID is someone else's).
    """

    person_id: int | None
    conflicts: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()

    @property
    def clear(self) -> bool:
        return not self.conflicts and not self.blocked


def _same_name_en(a: str, b: str) -> bool:
    """Passport names match in any word order and with or without hyphens."""
    words_a, words_b = re.findall(r"[a-z]+", fold(a)), re.findall(r"[a-z]+", fold(b))
    return sorted(words_a) == sorted(words_b) or "".join(words_a) == "".join(words_b)


async def review(session: AsyncSession, application: AlumniApplication, profile: Profile) -> Review:
    """Compare an application with the directory record of its ID number, if any."""
    blocked: list[str] = []
    username = profile.accounts.alumni_account_for(application.student_id)
    if username is None:
        blocked.append("the profile has no alumni account format")
    elif await session.scalar(select(Account.id).where(Account.username == username)):
        blocked.append(f"the account {username} already exists")
    person = await session.scalar(
        select(Person)
        .where(Person.id_number_hash == application.id_number_hash)
        .order_by(Person.id)
        .limit(1)
    )
    record = await session.scalar(
        select(StudentRecord).where(StudentRecord.student_id == application.student_id)
    )
    if record is not None and (person is None or record.person_id != person.id):
        blocked.append(
            f"student ID {application.student_id} belongs to another person in the directory"
        )
    if person is None:
        return Review(None, blocked=tuple(blocked))
    conflicts: list[str] = []
    whose = f"person {person.id} in the directory, who has this ID number"
    if person.birthday_hash != application.birthday_hash:
        conflicts.append(f"the birthday differs from {whose}")
    if fold(person.name_zh) != fold(application.name_zh):
        conflicts.append(f"the Chinese name differs from {whose}")
    if not _same_name_en(person.name_en, application.name_en):
        conflicts.append(f"the English name differs from {whose}")
    if record is None:
        conflicts.append(f"student ID {application.student_id} is not among the records of {whose}")
    alumni_account = await session.scalar(
        select(Account.username).where(
            Account.person_id == person.id, Account.kind == AccountKind.ALUMNI
        )
    )
    if alumni_account is not None:
        conflicts.append(f"{whose} already has the alumni account {alumni_account}")
    return Review(person.id, tuple(conflicts), tuple(blocked))


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


async def _new_person(
    session: AsyncSession, application: AlumniApplication, now: dt.datetime
) -> Person:
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
    session: AsyncSession,
    number: int,
    *,
    profile: Profile,
    now: dt.datetime,
    actor: str,
    override: str | None = None,
) -> str:
    """Approve application ``number``: create the alumni account, tell the applicant.

    Returns the new account's name; raises ``DecisionRefused`` when the application
    is blocked, or conflicts with the directory and no ``override`` reason is given.
    """
    application = await _pending(session, number)
    checked = await review(session, application, profile)
    if checked.blocked:
        raise DecisionRefused(
            f"Application {number} cannot be approved: {'; '.join(checked.blocked)}."
        )
    if checked.conflicts and not override:
        raise DecisionRefused(
            f"Application {number} conflicts with the directory: {'; '.join(checked.conflicts)}. "
            "Nothing was changed. Check with the registrar; to approve anyway, give "
            "--override REASON (audited)."
        )
    username = profile.accounts.alumni_account_for(application.student_id)
    assert username is not None  # review() blocks a profile without the format
    if checked.person_id is None:
        person_id = (await _new_person(session, application, now)).id
    else:
        # The existing record keeps its names and contact data: only the account and,
        # when missing, the enrolment the applicant named are added.
        person_id = checked.person_id
    if not await session.scalar(
        select(StudentRecord.id).where(StudentRecord.student_id == application.student_id)
    ):
        session.add(
            StudentRecord(
                person_id=person_id,
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
            person_id=person_id,
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
    overridden = bool(checked.conflicts)
    audit.record(
        session,
        at=now,
        channel="cli",
        actor=actor,
        flow="alumni_admin",
        action="approve",
        outcome="override" if overridden else "done",
        application=application.id,
        person=person_id,
        **({"conflicts": list(checked.conflicts), "override": override} if overridden else {}),
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
