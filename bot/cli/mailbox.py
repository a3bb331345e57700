"""``helpdesk mailbox show|suspend|unsuspend ADDRESS``: staff tools, each audited."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli.common import actor, fail, load_settings, out, require_database, run, taiwan_time
from core.db import create_engine, session_factory
from core.mailboxes import (
    MailboxView,
    NotSuspended,
    UnknownMailbox,
    human_kb,
    look_up,
    suspend,
    unsuspend,
)

mailbox_app = typer.Typer(help="Mailboxes: look one up, suspend it, lift a suspension.")


def _show(mailbox: MailboxView) -> None:
    table = Table(show_header=False)
    table.add_row("address", escape(mailbox.address))
    table.add_row("condition", escape(mailbox.condition))
    if mailbox.suspended_at is not None:
        table.add_row("suspended at (Taiwan time)", taiwan_time(mailbox.suspended_at))
        table.add_row("reason", escape(mailbox.suspended_reason or ""))
        table.add_row("notice", escape(mailbox.suspension_notice or ""))
    table.add_row(
        "quota", f"{human_kb(mailbox.quota_used_kb)} of {human_kb(mailbox.quota_limit_kb)}"
    )
    table.add_row("notification address", escape(mailbox.notification_address or "-"))
    out.print(table)


def _run(action: str, address: str, reason: str | None, notice: str | None) -> None:
    settings = load_settings()
    require_database(settings)

    async def main() -> None:
        engine = create_engine(settings.sqlalchemy_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                now = dt.datetime.now(dt.UTC)
                if action == "suspend":
                    assert reason is not None
                    box = await suspend(
                        session, address, reason=reason, notice=notice, actor=actor(), now=now
                    )
                elif action == "unsuspend":
                    box = await unsuspend(session, address, actor=actor(), now=now)
                else:
                    box = await look_up(session, address)
                _show(box)
        finally:
            await engine.dispose()

    try:
        run(main)
    except UnknownMailbox:
        raise fail(f"No mailbox {address}.") from None
    except NotSuspended as exc:
        raise fail(f"Mailbox {address} is not suspended ({exc}); nothing was changed.") from None


@mailbox_app.command()
def show(address: str) -> None:
    """Show a mailbox's condition, quota and notification address."""
    _run("show", address, None, None)


@mailbox_app.command("suspend")
def suspend_command(
    address: str,
    reason: Annotated[str, typer.Option("--reason", help="Why, as the owner will read it.")],
    notice: Annotated[
        str | None, typer.Option("--notice", help="The full notice (default: the reason).")
    ] = None,
) -> None:
    """Suspend a mailbox; its owner must read the notice before setting a password."""
    _run("suspend", address, reason, notice)


@mailbox_app.command("unsuspend")
def unsuspend_command(address: str) -> None:
    """Lift a suspension (exit 1, changing nothing, if the mailbox is not suspended)."""
    _run("unsuspend", address, None, None)
