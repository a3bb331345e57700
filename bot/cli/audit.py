"""``helpdesk audit [--since] [--actor] [--action]``: read the audit trail, newest last."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from bot.cli.common import TAIWAN, fail, load_settings, out, require_database, run, taiwan_time
from core.db import create_engine, session_factory
from core.models import AuditEvent

DEFAULT_LIMIT = 200


def parse_since(value: str, now: dt.datetime) -> dt.datetime:
    """``7d``, ``12h``, ``30m``, or a date / date and time in Taiwan time."""
    value = value.strip()
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if value[:-1].isdigit() and value[-1:] in units:
        return now - dt.timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"--since takes 7d, 12h, 30m or a date such as 2026-11-30 (got {value!r})"
        ) from None
    return moment.replace(tzinfo=TAIWAN) if moment.tzinfo is None else moment


def audit(
    since: Annotated[
        str, typer.Option(help="From when: 7d, 12h, 30m, or a Taiwan date/time (2026-11-30).")
    ] = "7d",
    actor: Annotated[
        str | None, typer.Option(help="Only this actor (a chat pseudonym or cli:NAME).")
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action (lookup), or flow.action (link.linked).")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, help="At most this many, the newest.")
    ] = DEFAULT_LIMIT,
) -> None:
    """Show audit events: time (Taiwan), channel, actor, flow, action, outcome, detail."""
    settings = load_settings()
    try:
        start = parse_since(since, dt.datetime.now(dt.UTC))
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    require_database(settings)

    async def main() -> list[AuditEvent]:
        engine = create_engine(settings.sqlalchemy_url)
        query = select(AuditEvent).where(AuditEvent.at >= start)
        if actor is not None:
            query = query.where(AuditEvent.actor == actor)
        if action is not None:
            flow, _, name = action.rpartition(".")
            query = query.where(AuditEvent.action == name)
            if flow:
                query = query.where(AuditEvent.flow == flow)
        query = query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
        try:
            async with session_factory(engine)() as session:
                return list(reversed((await session.scalars(query)).all()))
        finally:
            await engine.dispose()

    events = run(main)
    table = Table(
        "time (Taiwan time)",
        "channel",
        "actor",
        "flow",
        "action",
        "outcome",
        "detail",
        title=f"{len(events)} audit event(s) since {taiwan_time(start)} (Taiwan time)",
        title_justify="left",
    )
    for event in events:
        table.add_row(
            taiwan_time(event.at),
            escape(event.channel),
            escape(event.actor),
            escape(event.flow),
            escape(event.action),
            escape(event.outcome),
            escape(json.dumps(event.detail, ensure_ascii=False, sort_keys=True))
            if event.detail
            else "",
        )
    out.print(table)
