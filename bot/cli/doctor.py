"""``helpdesk doctor``: check the configuration against the real services, with fixes.

Each check says ok, warn or FAIL, what it found and what to do; any FAIL exits 1. It
sends no mail and no message: SMTP gets a connect and EHLO, each platform the call that
only reads the bot's own identity (Telegram getMe, Slack auth.test, LINE bot info).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import aiosmtplib
import typer
from cryptography.fernet import Fernet
from rich.markup import escape
from rich.table import Table
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.cli.common import err, out, run
from core import migrate
from core.clock import SystemClock
from core.db import create_engine
from core.directory.ldap import LdapDirectory
from core.directory.wiring import Directories
from core.errors import ConfigurationError
from core.models import DirectoryIndexEntry
from core.passwords import PasswordHasher
from core.pii import PiiHasher
from core.profiles import Profile, load_profile
from core.settings import Settings

TIMEOUT = 10.0  # seconds for each network check


@dataclass
class Check:
    name: str
    status: str  # ok, warn, FAIL
    found: str
    fix: str = ""


def _ok(name: str, found: str) -> Check:
    return Check(name, "ok", found)


def _fail(name: str, found: str, fix: str) -> Check:
    return Check(name, "FAIL", found, fix)


async def database(settings: Settings) -> Check:
    url = settings.sqlalchemy_url
    try:
        revisions = await _revisions(url)
    except Exception as exc:  # any driver error: the check reports it, never a traceback
        return _fail("database", f"cannot connect ({type(exc).__name__})", "check DATABASE_URL")
    if revisions is None:
        return _fail("database", "no helpdesk tables", "run `helpdesk db upgrade`")
    if revisions != migrate.heads(url):
        found = f"at {', '.join(sorted(revisions)) or 'nothing'}"
        return _fail("database", found, "run `helpdesk db upgrade`, then restart the workers")
    return _ok("database", f"{settings.sqlalchemy_url.split(':', 1)[0]}, migrations at head")


async def _revisions(url: str) -> set[str] | None:
    return await asyncio.to_thread(migrate.database_revisions, url)


async def smtp(settings: Settings) -> Check:
    if not settings.smtp_host:
        return Check(
            "smtp",
            "warn",
            f"no SMTP server: mail is written to {settings.outbox_dir}",
            "set HELPDESK_SMTP_HOST (and port, username, password) to send mail",
        )
    client = aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        timeout=TIMEOUT,
        start_tls=settings.smtp_starttls,
    )
    try:
        await client.connect()
        await client.ehlo()
        if settings.smtp_username and settings.smtp_password:
            await client.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        await client.quit()
    except (aiosmtplib.SMTPException, OSError) as exc:
        return _fail(
            "smtp",
            f"{settings.smtp_host}:{settings.smtp_port}: {type(exc).__name__}",
            "check HELPDESK_SMTP_HOST, _PORT, _STARTTLS and the credentials",
        )
    return _ok("smtp", f"{settings.smtp_host}:{settings.smtp_port} answers EHLO")


async def telegram(settings: Settings) -> Check | None:
    if settings.telegram_token is None:
        return None
    url = f"{settings.telegram_api_url}{settings.telegram_token.get_secret_value()}/getMe"
    fix = "check HELPDESK_TELEGRAM_TOKEN (BotFather's /token)"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session,
            session.post(url) as response,
        ):
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        # The exception may hold the URL, and the URL the token: name only its type.
        return _fail("telegram", f"getMe failed ({type(exc).__name__})", fix)
    if not isinstance(body, dict) or not body.get("ok"):
        code = body.get("error_code") if isinstance(body, dict) else response.status
        return _fail("telegram", f"getMe refused ({code})", fix)
    bot = body["result"]
    found = f"getMe: @{bot.get('username')} (id {bot.get('id')})"
    if settings.telegram_secret is None:
        return Check("telegram", "warn", found, "set HELPDESK_TELEGRAM_SECRET for the webhook")
    return _ok("telegram", found)


async def slack(settings: Settings) -> Check | None:
    if settings.slack_bot_token is None:
        return None
    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=int(TIMEOUT),
    )
    fix = "check HELPDESK_SLACK_BOT_TOKEN (xoxb-…, OAuth & Permissions)"
    try:
        answer = await client.auth_test()
    except SlackApiError as exc:
        return _fail("slack", f"auth.test refused ({exc.response.get('error')})", fix)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return _fail("slack", f"auth.test failed ({type(exc).__name__})", fix)
    found = f"auth.test: {answer.get('user')} in {answer.get('team')} ({answer.get('team_id')})"
    if settings.slack_signing_secret is None:
        return Check(
            "slack", "FAIL", found, "set HELPDESK_SLACK_SIGNING_SECRET (Basic Information)"
        )
    return _ok("slack", found)


async def line(settings: Settings) -> Check | None:
    if settings.line_channel_access_token is None:
        return None
    headers = {"Authorization": f"Bearer {settings.line_channel_access_token.get_secret_value()}"}
    fix = "check HELPDESK_LINE_CHANNEL_ACCESS_TOKEN (Messaging API, long-lived)"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session,
            session.get(f"{settings.line_api_url}/v2/bot/info", headers=headers) as response,
        ):
            body = await response.json(content_type=None) if response.ok else None
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return _fail("line", f"bot info failed ({type(exc).__name__})", fix)
    if not isinstance(body, dict):
        return _fail("line", f"bot info refused (HTTP {status})", fix)
    found = f"bot info: {body.get('displayName')} ({body.get('basicId')})"
    if settings.line_channel_secret is None:
        return Check("line", "FAIL", found, "set HELPDESK_LINE_CHANNEL_SECRET (Basic settings)")
    return _ok("line", found)


async def directory(settings: Settings, profile: Profile) -> Check:
    backend = profile.directory.backend
    if backend == "sql":
        return _ok("directory", "sql: the people in the database (helpdesk db import)")
    bind_dn = profile.directory.bind_dn
    if bind_dn and settings.directory_bind_password is None:
        return _fail(
            "directory",
            f"{backend}: HELPDESK_DIRECTORY_BIND_PASSWORD is not set (the profile binds as "
            f"{bind_dn})",
            "set HELPDESK_DIRECTORY_BIND_PASSWORD to that account's password",
        )
    engine = create_engine(settings.sqlalchemy_url)
    directories = Directories(
        profile,
        settings,
        pii=PiiHasher(secrets.token_bytes(32)),  # a bind and a search hash nothing
        hasher=PasswordHasher.from_settings(settings),
        clock=SystemClock(),
        sessions=async_sessionmaker(engine),
    )
    remote = directories.remote
    try:
        assert isinstance(remote, LdapDirectory)
        await remote.entries(since=dt.datetime.now(dt.UTC))
    except Exception as exc:  # the reason is in the exception's type and message
        return _fail(
            "directory",
            f"{backend} at {', '.join(profile.directory.uris)}: {type(exc).__name__}: {exc}",
            "check the profile's [directory] uris (with start_tls or ldaps://, its ca_file), "
            "bind_dn and HELPDESK_DIRECTORY_BIND_PASSWORD; `helpdesk directory check NAME` "
            "says more",
        )
    else:
        indexed = await _indexed(engine)
    finally:
        await directories.close()
        await engine.dispose()
    found = f"{backend}: bound and searched {', '.join(profile.directory.uris)}"
    if indexed == 0:
        return Check(
            "directory",
            "warn",
            f"{found}; the index is empty: every student-ID lookup and reset by ID number "
            "finds nothing",
            "run `helpdesk directory sync` (helpdesk serve and helpdesk worker then keep it)",
        )
    return _ok("directory", found)


async def _indexed(engine: AsyncEngine) -> int | None:
    """How many entries the local index holds; None when the database cannot say."""
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(select(func.count()).select_from(DirectoryIndexEntry))
    except Exception:  # no database, no table: the database check reports it
        return None
    return int(count or 0)


def keys(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    if settings.secret_key is not None:
        if len(settings.secret_key.get_secret_value()) < 32:
            checks.append(
                _fail(
                    "secret key",
                    "HELPDESK_SECRET_KEY is shorter than 32 characters",
                    "use `python -c 'import secrets; print(secrets.token_urlsafe(48))'`",
                )
            )
        else:
            checks.append(_ok("secret key", "HELPDESK_SECRET_KEY set"))
    else:
        path = settings.home / "secret.key"
        if path.exists():
            checks.append(
                Check(
                    "secret key",
                    "warn",
                    f"generated in {path}",
                    "for production set HELPDESK_SECRET_KEY and back it up with the database",
                )
            )
        else:
            checks.append(
                _fail(
                    "secret key",
                    "HELPDESK_SECRET_KEY is not set and there is no generated one",
                    "set HELPDESK_SECRET_KEY (a new key makes every stored hash unmatchable)",
                )
            )
    if settings.card_key is None:
        checks.append(Check("card key", "ok", "derived from the secret key"))
    else:
        try:
            Fernet(settings.card_key.get_secret_value().encode())
            checks.append(_ok("card key", "HELPDESK_CARD_KEY is a Fernet key"))
        except ValueError:
            checks.append(
                _fail(
                    "card key",
                    "HELPDESK_CARD_KEY is not a Fernet key",
                    "use `python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`",
                )
            )
    checks.extend(_permissions(settings))
    return checks


def _permissions(settings: Settings) -> list[Check]:
    """Files that hold secrets must be the owner's alone (0700 folder, 0600 files)."""
    checks: list[Check] = []
    home = settings.home
    private = [home / "secret.key", home / "helpdesk.db", settings.outbox_dir]
    for path in [home, *private]:
        if not path.exists():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            wanted = "700" if path.is_dir() else "600"
            checks.append(
                _fail(
                    f"permissions {path}",
                    f"{mode:o}: readable by others",
                    f"chmod {wanted} {path}",
                )
            )
    if not checks and home.exists():
        checks.append(_ok("permissions", f"{home} and its secrets are the owner's only"))
    if home.exists() and home.stat().st_uid != os.getuid():
        checks.append(
            Check("permissions", "warn", f"{home} belongs to another user", f"chown -R {home}")
        )
    return checks


async def checks(settings: Settings, profile: Profile) -> list[Check]:
    found: list[Check] = [_ok("settings", "read"), _ok("profile", f"{profile.name}")]
    found.append(await database(settings))
    found.append(await smtp(settings))
    platforms: list[Callable[[Settings], Awaitable[Check | None]]] = [telegram, slack, line]
    for platform in platforms:
        check = await platform(settings)
        if check is not None:
            found.append(check)
    found.append(await directory(settings, profile))
    found.extend(keys(settings))
    return found


def doctor() -> None:
    """Check settings, profile, database, SMTP, platforms, directory, keys; exit 1 on failure."""
    try:
        settings = Settings()
    except ValueError as exc:
        err.print(f"[red]FAIL settings:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    try:
        profile = load_profile(settings.profile)
    except (ConfigurationError, ValueError) as exc:
        err.print(f"[red]FAIL profile {escape(settings.profile)}:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    results = run(lambda: checks(settings, profile))
    table = Table("check", "", "found", "fix", title="helpdesk doctor", title_justify="left")
    for column in (table.columns[2], table.columns[3]):
        column.overflow = "fold"  # a setting's name or a URI whole, never cut short
    colours = {"ok": "green", "warn": "yellow", "FAIL": "red"}
    for check in results:
        table.add_row(
            escape(check.name),
            f"[{colours[check.status]}]{check.status}[/]",
            escape(check.found),
            escape(check.fix),
        )
    out.print(table)
    failures = sum(check.status == "FAIL" for check in results)
    if failures:
        err.print(f"[red]{failures} check(s) failed.[/red]")
        raise typer.Exit(1)
    out.print("[green]Everything checked is in order.[/green]")
