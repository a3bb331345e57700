"""The ``helpdesk`` command: chat, serve, and the directory's database tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot import conversations  # noqa: F401  (registers the flows)
from bot.adapters.console import CHANNEL, ConsoleChat
from bot.adapters.slack import SlackAdapter
from bot.adapters.telegram import TelegramAdapter
from bot.card_images import cipher_of
from bot.cli_alumni import alumni_app
from bot.cli_card import card_app
from bot.cli_mailbox import mailbox_app
from bot.cli_policy import policy_app
from bot.delivery import BackgroundDelivery
from bot.engine import Engine
from bot.services import Services, build_services
from bot.types import Reply
from bot.web import create_app, install_log_redaction
from core import migrate
from core.cards import new_secret
from core.errors import ConfigurationError
from core.models import AlumniCard, CardStatus
from core.profiles import available_profiles, load_profile
from core.settings import Settings

# Tracebacks never print local variables: they may hold personal data or secrets.
app = typer.Typer(
    help="Campus Helpdesk Bot: account self-service in chat.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database: migrations and directory data.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")
app.add_typer(mailbox_app, name="mailbox")
app.add_typer(card_app, name="card")
app.add_typer(alumni_app, name="alumni")
telegram_app = typer.Typer(help="Telegram: webhook registration, long polling.")
app.add_typer(telegram_app, name="telegram")
slack_app = typer.Typer(help="Slack: Socket Mode for a single process.")
app.add_typer(slack_app, name="slack")

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)
T = TypeVar("T")

LangOption = Annotated[
    str | None, typer.Option("--lang", help="zh-TW or en (default: from the environment).")
]


def _settings() -> Settings:
    try:
        settings = Settings()
        load_profile(settings.profile)
    except ConfigurationError as exc:
        err.print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        err.print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    return settings


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(factory())  # type: ignore[arg-type]


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )


def _lang_from_env() -> str | None:
    import os

    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "")
        if value.lower().startswith("zh"):
            return "zh-TW"
        if value.lower().startswith("en"):
            return "en"
    return None


def _check_lang(lang: str | None) -> str | None:
    if lang is not None and lang not in ("zh-TW", "zh_TW", "en"):
        err.print("[red]--lang takes zh-TW or en[/red]")
        raise typer.Exit(2)
    return lang


async def _chat(services: Services, lang: str | None) -> None:
    chat: ConsoleChat | None = None

    def on_mail(to: str, path: Path) -> None:
        if chat is not None:
            chat.notice(f"✉ mail to {to} written to {path}")

    async def background_work() -> None:
        """Send queued mail and show notices for this chat (e.g. from the password page)."""
        assert chat is not None
        await services.mail_worker.run_once()
        await background.run_once(chat_id=chat.user)

    async def poll() -> None:
        while True:
            await asyncio.sleep(2)
            with contextlib.suppress(OperationalError, OSError):
                await background_work()

    services.mail_worker.mailer.on_written = on_mail  # type: ignore[attr-defined]

    async def show(_chat_id: str, replies: list[Reply]) -> None:
        assert chat is not None
        chat.render(replies)

    background = BackgroundDelivery(services, CHANNEL, show)
    chat = ConsoleChat(Engine(services), lang=lang, after_step=background_work)
    poller = asyncio.create_task(poll()) if chat.interactive else None
    try:
        await chat.run()
    finally:
        if poller is not None:
            poller.cancel()
        await services.close()


@app.command()
def chat(lang: LangOption = None) -> None:
    """Chat with the bot in this terminal (reads lines from stdin when piped)."""
    settings = _settings()
    _setup_logging("WARNING")
    migrate.upgrade(settings.sqlalchemy_url)
    services = build_services(settings)
    _run(lambda: _chat(services, _check_lang(lang) or _lang_from_env()))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run the web app (health check, pages, platform webhooks)."""
    settings = _settings()
    _setup_logging(settings.log_level)
    services = build_services(settings)
    install_log_redaction()
    engine = Engine(services)
    telegram = slack = None
    if settings.telegram_token is not None:
        telegram = TelegramAdapter.build(services, engine)
    if settings.slack_bot_token is not None and settings.slack_signing_secret is not None:
        slack = SlackAdapter.build(services, engine)
    uvicorn.run(
        create_app(services, telegram=telegram, slack=slack, mail_worker=True),
        host=host or settings.web_host,
        port=port or settings.web_port,
        log_level=settings.log_level.lower(),
    )


@app.command()
def run(lang: LangOption = None) -> None:
    """The embedded default: migrate, seed the demo directory, serve the web app, chat."""
    settings = _settings()
    _setup_logging("WARNING")
    migrate.upgrade(settings.sqlalchemy_url)
    services = build_services(settings)

    async def main() -> None:
        # One event loop for everything: pooled asyncpg connections belong to the loop
        # that opened them.
        await _seed(services, quiet=True)
        config = uvicorn.Config(
            create_app(services),
            host=settings.web_host,
            port=settings.web_port,
            log_level="warning",
            lifespan="off",
        )
        server = uvicorn.Server(config)
        install_log_redaction()
        web = asyncio.create_task(server.serve())
        await asyncio.sleep(0.2)
        if web.done():
            err.print(f"[yellow]The web app could not start on port {settings.web_port}.[/yellow]")
        else:
            err.print(f"Web app on http://{settings.web_host}:{settings.web_port}/healthz")
        try:
            await _chat(services, _check_lang(lang) or _lang_from_env())
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await web

    _run(main)


@db_app.command()
def upgrade(revision: str = "head") -> None:
    """Apply the migrations (creates the SQLite file on the embedded default)."""
    settings = _settings()
    migrate.upgrade(settings.sqlalchemy_url, revision)
    out.print(f"Database at revision {revision}.")


@db_app.command()
def downgrade(revision: Annotated[str, typer.Argument()] = "base") -> None:
    """Revert migrations (to base by default: removes every table)."""
    settings = _settings()
    migrate.downgrade(settings.sqlalchemy_url, revision)
    out.print(f"Database at revision {revision}.")


DEMO_PASSWORD = "Demo-Passw0rd!"


async def _seed(services: Services, *, quiet: bool = False) -> None:
    from core.demo_data import seed_demo

    password_hash = await services.passwords.hash(DEMO_PASSWORD)
    try:
        async with services.sessions() as session, session.begin():
            report = await seed_demo(
                session,
                profile=services.profile,
                pii=services.pii,
                password_hash=password_hash,
                now=services.clock.now(),
            )
            # Active demo cards get their code secrets, encrypted with this install's key.
            cipher = cipher_of(services)
            for card in await session.scalars(
                select(AlumniCard).where(
                    AlumniCard.status == CardStatus.ACTIVE, AlumniCard.secret_encrypted.is_(None)
                )
            ):
                card.secret_encrypted = cipher.encrypt(new_secret())
    finally:
        if not quiet:
            await services.close()
    if not quiet:
        out.print(f"Demo directory: {report}")


@db_app.command("seed-demo")
def seed_demo() -> None:
    """Load the fictional demo directory (migrating first); running it again adds nothing."""
    settings = _settings()
    migrate.upgrade(settings.sqlalchemy_url)
    services = build_services(settings)
    _run(lambda: _seed(services))


def _import_help() -> str:
    from core.directory_import import COLUMNS

    columns = "\n\n".join(f"{name}: {text}" for name, text in COLUMNS.items())
    return (
        "Load people from a CSV file (UTF-8, header row). Every row is validated; when any "
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

    settings = _settings()
    services = build_services(settings)
    with file.open(encoding="utf-8-sig", newline="") as handle:
        rows, errors = parse_rows(
            handle, profile=services.profile, today=services.clock.now().date()
        )
    for error in errors:
        err.print(f"line {error.line}: {error.reason}")
    if errors and not skip_bad:
        err.print(
            f"[red]{len(errors)} bad row(s); nothing imported.[/red] "
            "Use --skip-bad to import the rest."
        )
        _run(services.close)
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
            out.print(f"Imported: {report}")
        finally:
            await services.close()

    _run(main)


@app.command()
def profiles() -> None:
    """List the shipped institution profiles."""
    table = Table("name", "institution", "degree levels")
    for name in available_profiles():
        profile = load_profile(name)
        table.add_row(
            name, profile.display_name.en, ", ".join(d.code for d in profile.degree_levels)
        )
    out.print(table)


def _telegram(settings: Settings) -> tuple[Services, TelegramAdapter]:
    if settings.telegram_token is None:
        err.print("[red]Set HELPDESK_TELEGRAM_TOKEN (from BotFather) first.[/red]")
        raise typer.Exit(2)
    services = build_services(settings)
    return services, TelegramAdapter.build(services, Engine(services), polling=True)


@telegram_app.command("set-webhook")
def telegram_set_webhook(
    url: Annotated[str, typer.Argument(help="Public HTTPS URL ending in /telegram/webhook.")],
) -> None:
    """Tell Telegram where to post updates, with the secret token from the settings."""
    settings = _settings()
    if settings.telegram_secret is None:
        err.print("[red]Set HELPDESK_TELEGRAM_SECRET (any long random string) first.[/red]")
        raise typer.Exit(2)
    services, adapter = _telegram(settings)

    async def main() -> None:
        try:
            async with adapter.application.bot as bot:
                await bot.set_webhook(
                    url,
                    secret_token=settings.telegram_secret.get_secret_value(),  # type: ignore[union-attr]
                )
        finally:
            await services.close()
        out.print(f"Webhook set to {url}")

    _run(main)


@telegram_app.command("poll")
def telegram_poll() -> None:
    """Long polling for a single process (several pollers conflict: use the webhook then)."""
    settings = _settings()
    _setup_logging(settings.log_level)
    services, adapter = _telegram(settings)

    async def main() -> None:
        application = adapter.application
        async with application:
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(drop_pending_updates=False)
            background = asyncio.create_task(adapter.run_background())
            mail = asyncio.create_task(_mail_forever(services))
            try:
                await asyncio.Event().wait()
            finally:
                background.cancel()
                mail.cancel()
                await application.updater.stop()
                await application.stop()
                await services.close()

    with contextlib.suppress(KeyboardInterrupt):
        _run(main)


async def _mail_forever(services: Services) -> None:
    while True:
        with contextlib.suppress(OperationalError, OSError):
            await services.mail_worker.run_once()
        await asyncio.sleep(2)


@slack_app.command("socket")
def slack_socket() -> None:
    """Socket Mode (no public URL; one process): needs HELPDESK_SLACK_APP_TOKEN (xapp-...)."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    settings = _settings()
    _setup_logging(settings.log_level)
    if settings.slack_app_token is None or settings.slack_bot_token is None:
        err.print("[red]Set HELPDESK_SLACK_BOT_TOKEN and HELPDESK_SLACK_APP_TOKEN first.[/red]")
        raise typer.Exit(2)
    services = build_services(settings)
    adapter = SlackAdapter.build(services, Engine(services), socket_mode=True)
    token = settings.slack_app_token.get_secret_value()

    async def main() -> None:
        background = asyncio.create_task(adapter.run_background())
        mail = asyncio.create_task(_mail_forever(services))
        try:
            await AsyncSocketModeHandler(adapter.app, token).start_async()  # type: ignore[no-untyped-call]
        finally:
            background.cancel()
            mail.cancel()
            await services.close()

    with contextlib.suppress(KeyboardInterrupt):
        _run(main)
