"""``helpdesk directory check|sync``: set up an LDAP or AD directory and keep its index."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli.common import err, fail, load_settings, out, require_database, run
from bot.services import Services, build_services
from core.directory import DirectoryUnavailable
from core.directory.ldap import LdapDirectory
from core.directory.sync import SyncReport
from core.directory.sync import sync as sync_index
from core.directory.wiring import Directories
from core.settings import Settings

directory_app = typer.Typer(
    help="The institution's LDAP or AD directory: check the settings, sync the index.",
    no_args_is_help=True,
)


def _remote(settings: Settings) -> tuple[Services, LdapDirectory]:
    """The profile's LDAP or AD directory, or exit 2 when the profile keeps accounts in SQL."""
    services = build_services(settings)
    directories = Directories(
        services.profile,
        settings,
        pii=services.pii,
        hasher=services.passwords,
        clock=services.clock,
        sessions=services.sessions,
    )
    if directories.remote is None:
        raise fail(
            f"Profile {services.profile.name!r} keeps accounts in the bot's own database "
            '([directory] backend = "sql"): there is no directory to check or sync.',
            2,
        )
    config = services.profile.directory
    if config.bind_dn and settings.directory_bind_password is None:
        raise fail(
            f"HELPDESK_DIRECTORY_BIND_PASSWORD is not set: the profile binds as {config.bind_dn}. "
            "Set it to that account's password (in the environment or the settings file), "
            "never in the profile.",
        )
    return services, directories.remote


class _NotOneEntry(Exception):
    """The directory answered, but the name is not exactly one entry."""


def _unavailable(directory: LdapDirectory, exc: DirectoryUnavailable) -> typer.Exit:
    config = directory.profile.directory
    return fail(
        f"The directory cannot be used: {exc}.\n"
        f"Servers tried: {', '.join(config.uris)}; bind DN: {config.bind_dn or '(anonymous)'} "
        "(its password from HELPDESK_DIRECTORY_BIND_PASSWORD); base: "
        f"{config.base_dn}.\n"
        "Check that a server listens at those URIs (with start_tls or ldaps://, that ca_file "
        "signed its certificate), and the bind DN and its password (invalidCredentials, 49: "
        "wrong DN or password).",
    )


@directory_app.command("check")
def check(
    name: Annotated[str, typer.Argument(help="An account name or address to look up.")],
) -> None:
    """Bind as the service, find NAME and show what each mapped attribute yields.

    The ID number and birthday are shown masked. Exit 1 with the reason when the
    directory cannot be reached, the bind fails or NAME is not exactly one entry.
    """
    services, directory = _remote(load_settings())

    async def main() -> list[tuple[str, str, str | None]]:
        try:
            try:
                return await directory.check(name)
            except DirectoryUnavailable as exc:
                # The bind and search may have worked and found no single entry: the same
                # bind and a search that reads nothing tell which.
                try:
                    await directory.entries(since=services.clock.now())
                except DirectoryUnavailable:
                    raise exc from None
                raise _NotOneEntry(str(exc)) from None
        finally:
            await directory.close()
            await services.close()

    try:
        rows = run(main)
    except _NotOneEntry as exc:
        config = directory.profile.directory
        raise fail(
            f"{exc}. The directory answers (bound as {config.bind_dn or 'anonymous'}), but the "
            f"search for {name!r} under {config.base_dn} with people_filter "
            f"{config.people_filter} and account_filter {config.account_filter} did not find "
            "exactly one entry: check the name, or those filters in the profile's [directory]."
        ) from None
    except DirectoryUnavailable as exc:
        raise _unavailable(directory, exc) from None
    table = Table("fact", "attribute", "value", title=f"{escape(name)} in the directory")
    table.columns[2].overflow = "fold"  # a DN or an address whole, never cut short
    for fact, attribute, value in rows:
        shown = escape(value) if value else "[dim](nothing)[/dim]"
        table.add_row(escape(fact), escape(attribute), shown)
    out.print(table)


@directory_app.command("sync")
def sync(
    full: Annotated[
        bool, typer.Option("--full", help="Read every entry again, not only the changed ones.")
    ] = False,
) -> None:
    """Bring the local index (lookups by ID number and birthday) up to date.

    The first run reads the whole directory; later ones only entries modified since
    the last, and drop entries that are gone. `helpdesk serve` and `helpdesk worker`
    already run it every HELPDESK_DIRECTORY_SYNC_MINUTES (15); run it by hand after
    connecting the directory, or after a bulk change, before their next pass.
    """
    settings = load_settings()
    require_database(settings)
    services, directory = _remote(settings)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )

    async def main() -> SyncReport:
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("Syncing the directory", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            try:
                return await sync_index(
                    services.sessions,
                    directory,
                    services.pii,
                    now=services.clock.now(),
                    full=full,
                    progress=advance,
                )
            finally:
                await directory.close()
                await services.close()

    try:
        report = run(main)
    except DirectoryUnavailable as exc:
        raise _unavailable(directory, exc) from None
    table = Table(
        "",
        "entries",
        title=(
            "Full sync of the directory index" if report.full else "Changes synced into the index"
        ),
        title_justify="left",
    )
    table.columns[1].justify = "right"
    for label, number in (
        ("added", report.added),
        ("updated", report.updated),
        ("removed", report.removed),
        ("unchanged (read again, nothing to update)", report.unchanged),
        ("skipped (no ID number or birthday)", report.skipped),
    ):
        table.add_row(label, str(number))
    out.print(table)
