"""``helpdesk cases list|show|close``: the help desk's cases from the command line, audited."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from bot.cli.common import actor, fail, load_settings, out, require_database, run, taiwan_time
from core import audit, cases
from core.db import create_engine, session_factory
from core.models import Case, CaseMessage, CaseStatus
from core.profiles import load_profile

cases_app = typer.Typer(help="Cases handed over to the help desk: list, show, close.")


class UnknownCase(Exception):
    """No case with that number."""


@cases_app.command("list")
def list_command(
    everything: Annotated[
        bool, typer.Option("--all", help="Closed cases too (the latest 100).")
    ] = False,
) -> None:
    """The cases still open (waiting or claimed), oldest first."""
    settings = load_settings()
    require_database(settings)

    async def main() -> list[Case]:
        engine = create_engine(settings.sqlalchemy_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                query = select(Case).order_by(Case.id.desc()).limit(100)
                if not everything:
                    query = query.where(Case.status != CaseStatus.CLOSED)
                found = list(await session.scalars(query))
                audit.record(
                    session,
                    at=dt.datetime.now(dt.UTC),
                    channel="cli",
                    actor=actor(),
                    flow=cases.FLOW,
                    action="cases_listed",
                    outcome="ok",
                    count=len(found),
                )
                return sorted(found, key=lambda c: c.id)
        finally:
            await engine.dispose()

    found = run(main)
    if not found:
        out.print("No open cases." if not everything else "No cases.")
        return
    table = Table("case", "status", "opened (Taiwan time)", "from", "claimed by", "question")
    for case in found:
        table.add_row(
            f"#{case.id}",
            case.status,
            taiwan_time(case.opened_at),
            escape(cases.who(case)),
            escape(case.claimed_by or "-"),
            escape(case.question[:60]),
        )
    out.print(table)


def _one(case_id: int, close: bool) -> tuple[str, list[str], bool]:
    settings = load_settings()
    require_database(settings)
    profile = load_profile(settings.profile)

    async def main() -> tuple[str, list[str], bool]:
        engine = create_engine(settings.sqlalchemy_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                case = await session.get(Case, case_id, with_for_update=close)
                if case is None:
                    raise UnknownCase
                now = dt.datetime.now(dt.UTC)
                changed = False
                if close:
                    changed = await cases.close(session, case, by=actor(), channel="cli", now=now)
                else:
                    audit.record(
                        session,
                        at=now,
                        channel="cli",
                        actor=actor(),
                        flow=cases.FLOW,
                        action="case_shown",
                        outcome="ok",
                        case=case.id,
                    )
                messages = await session.scalars(
                    select(CaseMessage)
                    .where(CaseMessage.case_id == case.id)
                    .order_by(CaseMessage.id)
                )
                lines = [
                    f"{taiwan_time(m.created_at)}  {'user' if m.source == 'user' else m.author}: "
                    f"{m.text}"
                    for m in messages
                ]
                return cases.summary(case, profile), lines, changed
        finally:
            await engine.dispose()

    try:
        return run(main)
    except UnknownCase:
        raise fail(f"No case #{case_id}.") from None


def _print(summary: str, lines: list[str]) -> None:
    out.print(escape(summary))
    if lines:
        out.print("\nMessages (Taiwan time):")
        for line in lines:
            out.print(escape(line))


@cases_app.command()
def show(case_id: int) -> None:
    """A case: who asked (pseudonym unless linked), what, the steps before, the messages."""
    _print(*_one(case_id, close=False)[:2])


@cases_app.command("close")
def close_command(case_id: int) -> None:
    """Close a case; the user is told and asked for a rating (exit 1 if already closed)."""
    summary, lines, changed = _one(case_id, close=True)
    if not changed:
        raise fail(f"Case #{case_id} was already closed; nothing was changed.")
    _print(summary, lines)
