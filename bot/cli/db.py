"""``helpdesk db upgrade|downgrade|seed-demo|import``: migrations and directory data."""

from __future__ import annotations

import io
import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress
from sqlalchemy import select

from bot.card_images import cipher_of
from bot.cli.common import counts, err, fail, load_settings, out, run
from bot.services import Services, build_services
from core import migrate
from core.cards import new_secret
from core.demo_data import SeedReport, seed_demo
from core.models import AlumniCard, CardStatus

db_app = typer.Typer(help="Database: migrations and directory data.", no_args_is_help=True)

DEMO_PASSWORD = "Demo-Passw0rd!"


@db_app.command()
def upgrade(revision: str = "head") -> None:
    """Apply the migrations (creates the SQLite file on the embedded default)."""
    settings = load_settings()
    migrate.upgrade(settings.sqlalchemy_url, revision)
    out.print(f"Database at revision {escape(revision)}.")


@db_app.command()
def downgrade(revision: Annotated[str, typer.Argument()] = "base") -> None:
    """Revert migrations (to base by default: removes every table)."""
    settings = load_settings()
    migrate.downgrade(settings.sqlalchemy_url, revision)
    out.print(f"Database at revision {escape(revision)}.")


async def seed(services: Services) -> SeedReport:
    """Add the demo directory, with code secrets for its active cards under this key."""
    password_hash = await services.passwords.hash(DEMO_PASSWORD)
    async with services.sessions() as session, session.begin():
        report = await seed_demo(
            session,
            profile=services.profile,
            pii=services.pii,
            password_hash=password_hash,
            now=services.clock.now(),
        )
        cipher = cipher_of(services)
        for card in await session.scalars(
            select(AlumniCard).where(
                AlumniCard.status == CardStatus.ACTIVE, AlumniCard.secret_encrypted.is_(None)
            )
        ):
            card.secret_encrypted = cipher.encrypt(new_secret())
    return report


@db_app.command("seed-demo")
def seed_demo_command() -> None:
    """Load the fictional demo directory (migrating first); running it again adds nothing."""
    settings = load_settings()
    migrate.upgrade(settings.sqlalchemy_url)
    services = build_services(settings)

    async def main() -> SeedReport:
        try:
            return await seed(services)
        finally:
            await services.close()

    report = run(main)
    out.print(counts("Demo directory", report))


def _decoded(file: Path) -> str:
    """The file's text: UTF-8 (with or without a BOM), or Big5 as Taiwanese offices export.

    Anything else exits 1 asking for UTF-8, rather than guessing.
    """
    data = file.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp950")  # Big5 as Windows (and Excel in Taiwan) writes it
    except UnicodeDecodeError:
        raise fail(
            f"{file} is neither UTF-8 nor Big5. Save it as CSV UTF-8 "
            "(Excel: File > Save As > CSV UTF-8) and import it again."
        ) from None
    err.print(f"{escape(str(file))} is not UTF-8; read it as Big5 (cp950).")
    return text


def _import_help() -> str:
    from core.directory_import import COLUMNS

    columns = "\n\n".join(f"{name}: {text}" for name, text in COLUMNS.items())
    return (
        "Load people from a CSV file (UTF-8 or Big5, header row). Every row is validated; when any "
        "row is bad nothing is imported (bad rows are listed by line number) unless "
        "--skip-bad. People already present are skipped.\n\nColumns:\n\n" + columns
    )


@db_app.command("import", help=_import_help())
def import_csv(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Import the good rows even if some are bad.")
    ] = False,
) -> None:
    from core.directory_import import import_rows, parse_rows

    settings = load_settings()
    migrate.upgrade(settings.sqlalchemy_url)  # a first import may be on a fresh database
    services = build_services(settings)
    rows, errors = parse_rows(
        io.StringIO(_decoded(file), newline=""),
        profile=services.profile,
        today=services.clock.now().date(),
    )
    for error in errors:
        err.print(f"line {error.line}: {escape(error.reason)}")
    if errors and not skip_bad:
        err.print(
            f"[red]{len(errors)} bad row(s); nothing imported.[/red] "
            "Use --skip-bad to import the rest."
        )
        run(services.close)
        raise typer.Exit(1)

    async def main() -> None:
        unusable = await services.passwords.hash(secrets.token_urlsafe(32))
        try:
            with Progress(console=out) as progress:
                task = progress.add_task("Importing", total=len(rows))
                async with services.sessions() as session, session.begin():
                    report = await import_rows(
                        session,
                        rows,
                        profile=services.profile,
                        pii=services.pii,
                        password_hash=unusable,
                        now=services.clock.now(),
                        progress=lambda n: progress.update(task, completed=n),
                    )
            out.print(counts("Imported", report))
        finally:
            await services.close()

    run(main)
