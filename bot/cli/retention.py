"""``helpdesk retention run [--dry-run]``: delete personal data past its period."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import load_settings, out, require_database, run
from core import retention
from core.db import create_engine, session_factory
from core.profiles import load_profile

retention_app = typer.Typer(help="Retention: delete what the profile's periods no longer allow.")


@retention_app.command("run")
def run_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
) -> None:
    """Apply the profile's [retention] periods now (the workers do it every hour)."""
    settings = load_settings()
    require_database(settings)
    periods = load_profile(settings.profile).retention

    async def main() -> dict[str, int]:
        engine = create_engine(settings.sqlalchemy_url)
        try:
            return await retention.apply(
                session_factory(engine), dt.datetime.now(dt.UTC), periods, dry_run=dry_run
            )
        finally:
            await engine.dispose()

    counts = run(main)
    title = "Would be deleted (dry run)" if dry_run else "Deleted"
    table = Table("kind", "rows", title=title, title_justify="left")
    table.columns[1].justify = "right"
    for kind, number in counts.items():
        table.add_row(kind, str(number))
    out.print(table)
