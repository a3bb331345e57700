"""``helpdesk policy check``: test a password from stdin against a profile's policy."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from bot.cli.common import require_database
from core.accounts import PasswordFacts, password_facts
from core.db import create_engine, session_factory
from core.errors import ProfileError
from core.i18n import Translator
from core.password_policy import PasswordPolicy, Requirement, Violation, check, describe
from core.passwords import PasswordHasher
from core.profiles import available_profiles, load_profile
from core.settings import Settings

policy_app = typer.Typer(
    help="Password policies: check a password against an institution's rules.",
    no_args_is_help=True,
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# Exit codes: 0 accepted, 1 rejected, 2 the command could not check (bad profile,
# unknown account, no password, unreadable database).
ACCEPTED, REJECTED, UNUSABLE = 0, 1, 2


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{escape(message)}[/red]")
    return typer.Exit(UNUSABLE)


def _policy(name: str) -> PasswordPolicy:
    try:
        return load_profile(name).password_policy
    except ProfileError as exc:
        if name in available_profiles() or "/" in name or name.endswith(".toml"):
            raise _fail(f"Cannot use profile {name!r}: {exc}") from None
        known = ", ".join(available_profiles())
        raise _fail(f"Unknown profile {name!r}; the profiles are: {known}.") from None


def _read_password() -> str:
    """One line from stdin, without its line ending; typed hidden on a terminal."""
    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, err=True))
    line = sys.stdin.readline()
    if not line:
        raise _fail("No password on standard input (give it as one line).")
    return line.removesuffix("\n").removesuffix("\r")


async def _load_account(settings: Settings, username: str) -> PasswordFacts | None:
    engine = create_engine(settings.sqlalchemy_url)
    try:
        async with session_factory(engine)() as session:
            return await password_facts(session, username)
    finally:
        await engine.dispose()


def _account(username: str) -> tuple[Settings, PasswordFacts]:
    try:
        settings = Settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise _fail(f"Configuration error: {exc}") from None
    require_database(settings)
    try:
        facts = asyncio.run(_load_account(settings, username))
    except SQLAlchemyError as exc:
        name = type(exc).__name__
        raise _fail(f"Cannot read the database ({name}); run `helpdesk db upgrade`.") from None
    if facts is None:
        raise _fail(f"No account named {username!r}.")
    return settings, facts


def _reused(
    policy: PasswordPolicy, settings: Settings, hashes: tuple[str, ...], password: str
) -> bool:
    # "Not one of the last N" counts the current password: NTUST's history = 1 is
    # 不得與上次密碼相同 (seed 000), NTU's 3 is 不得與前三次相同 (seed 003).
    hasher = PasswordHasher.from_settings(settings)
    return any(hasher.verify_sync(stored, password) for stored in hashes[: policy.history])


def _show(unmet: list[Requirement]) -> None:
    english = Translator("en")
    for requirement in unmet:
        text = english._(requirement.message, **requirement.params)
        out.print(f"[red]✗[/red] {requirement.code.value}: {escape(text)}")


@policy_app.command("check")
def check_command(
    profile: Annotated[
        str, typer.Option("--profile", help="Institution profile name (ntust, ntu, ...) or path.")
    ],
    account: Annotated[
        str | None,
        typer.Option("--account", help="Also check personal data and reuse against this account."),
    ] = None,
) -> None:
    """Read a password from stdin (one line) and list the rules it breaks."""
    policy = _policy(profile)
    password = _read_password()
    personal: tuple[str, ...] = ()
    reused = False
    if account is not None:
        settings, facts = _account(account)
        personal = facts.personal
        reused = policy.history > 0 and _reused(policy, settings, facts.hashes, password)
    unmet = check(policy, password, personal=personal)
    if reused:
        unmet.append(describe(policy, Violation.REUSED))
    if not unmet:
        out.print("[green]accepted[/green]")
        raise typer.Exit(ACCEPTED)
    _show(unmet)
    out.print(f"[red]rejected[/red]: {len(unmet)} rule(s) not met")
    raise typer.Exit(REJECTED)
