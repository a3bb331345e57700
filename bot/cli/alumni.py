"""``helpdesk alumni applications|approve|reject``: staff review of alumni accounts (seed 003).

Where the profile's directory is LDAP or AD, approving writes the new entry there
(``[directory] applications = "write"``) or prints what staff create by hand (``"queue"``).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli.common import (
    actor,
    fail,
    load_settings,
    out,
    require_database,
    run,
    taiwan_date,
)
from bot.services import build_services
from core import alumni
from core.application_answers import shown_mobile
from core.directory import DirectoryUnavailable
from core.i18n import Translator, normalise_locale
from core.settings import Settings

alumni_app = typer.Typer(
    help="Alumni account applications: list, approve, reject.", no_args_is_help=True
)


def _settings() -> Settings:
    settings = load_settings()
    require_database(settings)
    return settings


def _check(checked: alumni.Review) -> str:
    if checked.blocked:
        return "[bold red]⚠ BLOCKED:[/bold red] " + escape("; ".join(checked.blocked))
    if checked.conflicts:
        return "[bold red]⚠ CONFLICT:[/bold red] " + escape("; ".join(checked.conflicts))
    if checked.entry is not None:
        return f"matches directory entry {escape(checked.entry)}"
    if checked.person_id is None:
        return "new person"
    return f"matches person {checked.person_id}"


@alumni_app.command()
def applications() -> None:
    """List the applications waiting for review (ID numbers masked)."""
    services = build_services(_settings())

    async def main() -> None:
        try:
            pending = await alumni.pending_reviews(
                services.sessions, services.profile, services.directories.remote
            )
        finally:
            await services.close()
        rows = [row for row, _ in pending]
        reviews = [checked for _, checked in pending]
        if not rows:
            out.print("No pending applications.")
            return
        table = Table()
        for header in (
            "id",
            "applied (Taiwan date)",
            "name",
            "ID number",
            "programme",
            "department",
            "student ID",
            "years",
            "e-mail",
            "mobile",
            "directory check",
        ):
            # Folded, never cut short: staff compare these with the records.
            table.add_column(header, overflow="fold")
        for row, checked in zip(rows, reviews, strict=True):
            # Everything the applicant typed is escaped: it is shown, never rendered.
            table.add_row(
                str(row.id),
                taiwan_date(row.created_at),
                escape(f"{row.name_zh} {row.name_en}"),
                row.id_number_masked,
                escape(row.degree_level),
                escape(row.department),
                escape(row.student_id),
                f"{row.entry_year}-{row.graduation_year}",
                escape(row.email),
                escape(shown_mobile(row.mobile)),
                _check(checked),
            )
        out.print(table)
        if any(not checked.clear for checked in reviews):
            out.print(
                "[bold red]⚠[/bold red] Flagged applications cannot be approved as they are: "
                "check them with the registrar first."
            )

    run(main)


@alumni_app.command()
def approve(
    application: int,
    override: Annotated[
        str | None,
        typer.Option(
            "--override",
            metavar="REASON",
            help="Approve despite conflicts with the directory (recorded in the audit log).",
        ),
    ] = None,
) -> None:
    """Approve a pending application: create the alumni account and tell the applicant."""
    if override is not None:
        override = " ".join(override.split())
        if not override or len(override) > alumni.MAX_REASON:
            raise fail(f"Give an override reason of 1 to {alumni.MAX_REASON} characters.")
    services = build_services(_settings())

    async def main() -> alumni.Approval:
        try:
            return await alumni.approve(
                services.sessions,
                application,
                profile=services.profile,
                directory=services.directories.remote,
                now=services.clock.now(),
                actor=actor(),
                override=override,
            )
        finally:
            await services.close()

    try:
        approval = run(main)
    except alumni.DecisionRefused as exc:
        raise fail(str(exc)) from None
    except DirectoryUnavailable as exc:
        # In the staff member's language where their shell names one.
        t = Translator(normalise_locale(os.environ.get("LANG")) or "en")
        raise fail(
            f"Application {application} was not approved and is still pending: "
            f"{t._(exc.msgid)} (the directory: {exc})"
        ) from None
    account = escape(approval.account)
    if approval.entry is not None:
        out.print(
            f"Application {application}: approved, account {account} written to the "
            f"directory as {escape(approval.entry)}"
        )
        return
    out.print(f"Application {application}: approved, account {account}")
    if approval.by_hand:
        out.print(
            '[bold]The bot does not write accounts (\\[directory] applications = "queue"): '
            "create this account by hand in the directory.[/bold] The applicant was told "
            "it is approved and that you will tell them how to log in."
        )
        table = Table("", "value", title="The account to create", title_justify="left")
        for fact, value in approval.by_hand:
            table.add_row(fact, escape(value))
        out.print(table)


@alumni_app.command()
def reject(
    application: int,
    reason: Annotated[str, typer.Option("--reason", help="Told to the applicant.")],
) -> None:
    """Reject a pending application, telling the applicant why."""
    reason = " ".join(reason.split())
    if not reason or len(reason) > alumni.MAX_REASON:
        raise fail(f"Give a reason of 1 to {alumni.MAX_REASON} characters.")
    services = build_services(_settings())

    async def main() -> None:
        try:
            async with services.sessions() as session, session.begin():
                await alumni.reject(
                    session,
                    application,
                    reason=reason,
                    profile=services.profile,
                    now=services.clock.now(),
                    actor=actor(),
                )
        finally:
            await services.close()

    try:
        run(main)
    except alumni.DecisionRefused as exc:
        raise fail(str(exc)) from None
    out.print(f"Application {application}: rejected")
