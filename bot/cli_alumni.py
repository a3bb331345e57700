"""``helpdesk alumni applications|approve|reject``: staff review of alumni accounts (seed 003).

Approving creates the account B + student ID + 00 (the profile's format) whose first
password is the ID number with its letters in upper case, to be changed at the first
login (seed 003); the applicant is told in the chat they applied from and by mail, in
the language they applied in, as they are when an application is rejected.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversations.alumni_application import MAIL_SUBJECT, shown_mobile
from bot.services import Services, build_services
from core import audit
from core.directory_import import AccountKind
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
from core.settings import Settings

alumni_app = typer.Typer(
    help="Alumni account applications: list, approve, reject.", no_args_is_help=True
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

MAX_REASON = 500  # AlumniApplication.reason
APPROVED = N_(
    "Your application for an alumni account (number {number}) was approved. Your account "
    "is {account}. At the first login the password is your ID number (national ID or "
    "resident certificate number) with its letters in upper case, and you must change it "
    "at that login."
)
REJECTED = N_(
    "Your application for an alumni account (number {number}) was not approved. Reason: {reason}"
)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _tell(
    session: AsyncSession,
    services: Services,
    application: AlumniApplication,
    msgid: str,
    /,
    **params: object,
) -> None:
    """Tell the applicant in the chat they applied from and by mail, in their language."""
    now = services.clock.now()
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
        subject=t._(
            MAIL_SUBJECT,
            institution=services.profile.display_name.get(application.locale),
        ),
        body=t._(msgid, **params),
        now=now,
    )


async def _pending(session: AsyncSession, number: int) -> AlumniApplication:
    application = await session.get(AlumniApplication, number, with_for_update=True)
    if application is None:
        err.print(f"[red]No application {number}.[/red]")
        raise typer.Exit(1)
    if application.status != ApplicationStatus.PENDING:
        err.print(f"[red]Application {number} is {application.status}, not pending.[/red]")
        raise typer.Exit(1)
    return application


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
        if person.birthday_hash != application.birthday_hash:
            err.print(
                f"[yellow]Person {person.id} in the directory has this ID number but another "
                "birthday; the account is added to that person.[/yellow]"
            )
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


async def _approve(number: int) -> None:
    services = build_services(Settings())
    try:
        async with services.sessions() as session, session.begin():
            application = await _pending(session, number)
            now = services.clock.now()
            username = services.profile.accounts.alumni_account_for(application.student_id)
            if username is None:
                err.print("[red]The profile has no alumni account format.[/red]")
                raise typer.Exit(1)
            if await session.scalar(select(Account.id).where(Account.username == username)):
                err.print(f"[red]The account {username} already exists.[/red]")
                raise typer.Exit(1)
            record = await session.scalar(
                select(StudentRecord).where(StudentRecord.student_id == application.student_id)
            )
            person = await _person(session, application, now)
            if record is not None and record.person_id != person.id:
                err.print(
                    f"[red]Student ID {application.student_id} belongs to another person "
                    "in the directory.[/red]"
                )
                raise typer.Exit(1)
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
            # Seed 003: the first password is the ID number (hashed when the applicant
            # typed it) and must be changed at the first login. No chat is linked.
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
                actor=_actor(),
                flow="alumni_admin",
                action="approve",
                outcome="done",
                application=application.id,
                person=person.id,
            )
            _tell(session, services, application, APPROVED, number=number, account=username)
        out.print(f"Application {number}: approved, account {username}")
    finally:
        await services.close()


async def _reject(number: int, reason: str) -> None:
    services = build_services(Settings())
    try:
        async with services.sessions() as session, session.begin():
            application = await _pending(session, number)
            now = services.clock.now()
            application.status = ApplicationStatus.REJECTED
            application.reason = reason
            application.decided_at = now
            audit.record(
                session,
                at=now,
                channel="cli",
                actor=_actor(),
                flow="alumni_admin",
                action="reject",
                outcome="done",
                application=application.id,
            )
            _tell(session, services, application, REJECTED, number=number, reason=reason)
        out.print(f"Application {number}: rejected")
    finally:
        await services.close()


@alumni_app.command()
def applications() -> None:
    """List the applications waiting for review (ID numbers masked)."""

    async def main() -> None:
        services = build_services(Settings())
        try:
            async with services.sessions() as session:
                rows = (
                    await session.scalars(
                        select(AlumniApplication)
                        .where(AlumniApplication.status == ApplicationStatus.PENDING)
                        .order_by(AlumniApplication.id)
                    )
                ).all()
            if not rows:
                out.print("No pending applications.")
                return
            profile = services.profile
            table = Table()
            for header in (
                "id",
                "applied",
                "name",
                "ID number",
                "programme",
                "department",
                "student ID",
                "years",
                "e-mail",
                "mobile",
            ):
                # Folded, never cut short: staff compare these with the records.
                table.add_column(header, overflow="fold")
            for row in rows:
                table.add_row(
                    str(row.id),
                    row.created_at.astimezone(profile.zone).date().isoformat(),
                    f"{row.name_zh} {row.name_en}",
                    row.id_number_masked,
                    row.degree_level,
                    row.department,
                    row.student_id,
                    f"{row.entry_year}-{row.graduation_year}",
                    row.email,
                    shown_mobile(row.mobile),
                )
            out.print(table)
        finally:
            await services.close()

    asyncio.run(main())


@alumni_app.command()
def approve(application: int) -> None:
    """Approve a pending application: create the alumni account and tell the applicant."""
    asyncio.run(_approve(application))


@alumni_app.command()
def reject(
    application: int,
    reason: Annotated[str, typer.Option("--reason", help="Told to the applicant.")],
) -> None:
    """Reject a pending application, telling the applicant why."""
    reason = " ".join(reason.split())
    if not reason or len(reason) > MAX_REASON:
        err.print(f"[red]Give a reason of 1 to {MAX_REASON} characters.[/red]")
        raise typer.Exit(1)
    asyncio.run(_reject(application, reason))
