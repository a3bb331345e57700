"""``helpdesk mailbox show|suspend|unsuspend ADDRESS``: staff tools, each audited."""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.db import create_engine, session_factory
from core.mailboxes import UnknownMailbox, by_address, human_kb, suspend, unsuspend
from core.models import Mailbox
from core.settings import Settings

mailbox_app = typer.Typer(help="Mailboxes: look one up, suspend it, lift a suspension.")
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _show(mailbox: Mailbox) -> None:
    table = Table(show_header=False)
    table.add_row("address", mailbox.address)
    table.add_row("condition", mailbox.condition)
    if mailbox.suspended_at is not None:
        table.add_row("suspended at", mailbox.suspended_at.isoformat(timespec="minutes"))
        table.add_row("reason", mailbox.suspended_reason or "")
        table.add_row("notice", mailbox.suspension_notice or "")
    table.add_row(
        "quota", f"{human_kb(mailbox.quota_used_kb)} of {human_kb(mailbox.quota_limit_kb)}"
    )
    table.add_row("notification address", mailbox.notification_address or "-")
    out.print(table)


def _run(action: str, address: str, reason: str | None, notice: str | None) -> None:
    settings = Settings()

    async def main() -> None:
        engine = create_engine(settings.sqlalchemy_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                now = dt.datetime.now(dt.UTC)
                if action == "suspend":
                    assert reason is not None
                    box = await suspend(
                        session, address, reason=reason, notice=notice, actor=_actor(), now=now
                    )
                elif action == "unsuspend":
                    box = await unsuspend(session, address, actor=_actor(), now=now)
                else:
                    box = await by_address(session, address)
                _show(box)
        finally:
            await engine.dispose()

    try:
        asyncio.run(main())
    except UnknownMailbox:
        err.print(f"[red]No mailbox {address}.[/red]")
        raise typer.Exit(1) from None


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
    """Lift a suspension."""
    _run("unsuspend", address, None, None)
