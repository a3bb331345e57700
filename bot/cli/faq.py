"""``helpdesk faq check``: validate a profile's folder of FAQ answers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bot.cli.common import err, fail, load_settings, out
from core.errors import ProfileError
from core.faq import check_folder, faq_folder
from core.profiles import available_profiles, load_profile

faq_app = typer.Typer(help="FAQ answers: check a profile's folder.", no_args_is_help=True)


@faq_app.command("check")
def check(
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="The profile whose answers to check (default: in use)."),
    ] = None,
    folder: Annotated[
        Path | None,
        typer.Option("--folder", help="Check this folder instead (answers being written)."),
    ] = None,
) -> None:
    """Report every file the bot cannot serve and every example question that collides.

    Prints each problem as ``path: message`` and exits 1 if there is any.
    """
    if folder is not None:
        report(folder)
        return
    name = profile if profile is not None else load_settings().profile
    try:
        name = load_profile(name).name
    except ProfileError as exc:
        if name in available_profiles():
            raise fail(f"Cannot use profile {name!r}: {exc}", 2) from None
        known = ", ".join(available_profiles())
        raise fail(f"Unknown profile {name!r}; the profiles are: {known}.", 2) from None
    report(faq_folder(name))


def report(folder: Path) -> None:
    problems = check_folder(folder)
    for problem in problems:
        out.print(escape(str(problem)), soft_wrap=True)
    if problems:
        err.print(f"[red]{len(problems)} problem(s) in {escape(str(folder))}[/red]")
        raise typer.Exit(1)
    out.print(f"{escape(str(folder))}: no problems", soft_wrap=True)
