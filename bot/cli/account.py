"""``helpdesk account enrolment-code ACCOUNT``: a one-time code staff hand a new hire."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.markup import escape

from bot.cli.common import actor, fail, load_settings, out, require_database, run, taiwan_time
from core import audit
from core.accounts import issue_enrolment_code
from core.db import create_engine, session_factory

account_app = typer.Typer(help="Accounts: enrolment codes for new staff with no address on file.")


@account_app.command("enrolment-code")
def enrolment_code(
    account: str,
    days: Annotated[
        int, typer.Option("--days", min=1, max=90, help="How many days the code works.")
    ] = 14,
) -> None:
    """Issue a one-time code that links a chat to ACCOUNT's owner (seed 004's new hire).

    The code is printed once, for the staff member to hand over in person; it is never
    logged or stored (only its hash), and an earlier unused code for the same person ends.
    """
    settings = load_settings()
    require_database(settings)

    async def main() -> tuple[str, dt.datetime] | None:
        engine = create_engine(settings.sqlalchemy_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                now = dt.datetime.now(dt.UTC)
                lifetime = dt.timedelta(days=days)
                code = await issue_enrolment_code(
                    session, settings.pii_key, account=account, lifetime=lifetime, now=now
                )
                audit.record(
                    session,
                    at=now,
                    channel="cli",
                    actor=actor(),
                    flow="account_admin",
                    action="enrolment_code",
                    outcome="issued" if code is not None else "no_such_account",
                    account=account,
                    days=days,
                )
                return None if code is None else (code, now + lifetime)
        finally:
            await engine.dispose()

    issued = run(main)
    if issued is None:
        raise fail(f"No such account: {account}.")
    code, until = issued
    out.print(f"Enrolment code for {escape(account)}: [bold]{code}[/bold]")
    out.print(
        f"Works once, until {taiwan_time(until)} (Taiwan time). Hand it over in person; "
        "it is not shown again, and any earlier code for this person no longer works."
    )
