"""``helpdesk run|chat|serve``: the embedded default, the console chat, the web app."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Annotated

import typer
import uvicorn
from rich.markup import escape
from starlette.applications import Starlette

from bot import conversations  # noqa: F401  (registers the flows)
from bot.adapters.base import configured
from bot.adapters.console import ConsoleChat, session_chat_id
from bot.cli.common import chat_log_level, err, load_settings, run, setup_logging
from bot.cli.db import seed
from bot.cli.workers import serve_workers, uvicorn_options
from bot.engine import Engine
from bot.services import Services, build_services
from bot.web import create_app
from bot.web.security import server_options
from core import migrate, people
from core.directory.sync import index_is_empty
from core.settings import Settings

LangOption = Annotated[
    str | None, typer.Option("--lang", help="zh-TW or en (default: from the environment).")
]
HostOption = Annotated[str | None, typer.Option("--host", help="Address to listen on.")]
PortOption = Annotated[
    int | None,
    typer.Option(
        "--port", help="Port to listen on (default: HELPDESK_WEB_PORT, 8080).", min=1, max=65535
    ),
]
SessionOption = Annotated[
    str | None,
    typer.Option(
        "--session",
        help="Resume the chat of this session name (default: a new chat for each run).",
    ),
]
POLL_SECONDS = 2.0


def _listening(settings: Settings, host: str | None, port: int | None) -> Settings:
    """The settings for serving on host/port, or exit 1 saying the port is taken."""
    settings = settings.serving_on(host, port)
    try:
        family = socket.getaddrinfo(settings.web_host, settings.web_port)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As uvicorn binds: a port in TIME_WAIT is free, one with a listener is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((settings.web_host, settings.web_port))
    except OSError as exc:
        err.print(
            f"[red]Cannot listen on {escape(settings.web_host)} port {settings.web_port}:[/red] "
            f"{escape(exc.strerror or str(exc))}.\n"
            f"Another program (perhaps another helpdesk) is using it. Choose another port with "
            f"--port {settings.web_port + 1} or HELPDESK_WEB_PORT={settings.web_port + 1} "
            f"(for make run: make run PORT={settings.web_port + 1})."
        )
        raise typer.Exit(1) from None
    return settings


def _lang_from_env() -> str | None:
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "").lower()
        if value.startswith("zh"):
            return "zh-TW"
        if value.startswith("en"):
            return "en"
    return None


def _lang(lang: str | None) -> str | None:
    if lang is not None and lang not in ("zh-TW", "zh_TW", "en"):
        err.print("[red]--lang takes zh-TW or en[/red]")
        raise typer.Exit(2)
    return lang or _lang_from_env()


async def _warn_if_empty(services: Services) -> None:
    """Say so when every lookup would find nothing, and what fills what the lookups read:
    the bot's own people table, or on LDAP and AD the synced index of the directory."""
    async with services.sessions() as session:
        if services.profile.directory.backend != "sql":
            if await index_is_empty(session):
                err.print(
                    "[yellow]The directory index is empty, so every lookup by ID number and "
                    "birthday finds nothing: run `helpdesk directory sync` first (`helpdesk "
                    "serve` and `helpdesk worker` then keep it up to date).[/yellow]"
                )
        elif await people.directory_is_empty(session):
            err.print(
                "[yellow]The directory is empty, so every lookup finds nothing: run "
                "`helpdesk db seed-demo` (the fictional demo directory) or "
                "`helpdesk db import FILE.csv` first.[/yellow]"
            )


async def _chat(services: Services, lang: str | None, session: str | None) -> None:
    chat_id = session_chat_id(session)
    name = chat_id.partition("/")[2]
    err.print(f"[dim]Chat session {escape(name)} (resume it with --session {escape(name)})[/dim]")
    await _warn_if_empty(services)
    chat = ConsoleChat(Engine(services), lang=lang, user=chat_id)
    await chat.startup()
    # A script's chat delivers after each of its lines; a person's also while typing.
    poller = asyncio.create_task(chat.run_background(POLL_SECONDS)) if chat.interactive else None
    try:
        await chat.run()
    finally:
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        await chat.shutdown()
        await services.close()


def chat(lang: LangOption = None, session: SessionOption = None) -> None:
    """Chat with the bot in this terminal (reads lines from stdin when piped)."""
    settings = load_settings()
    setup_logging(settings, chat_log_level(settings))
    migrate.upgrade(settings.sqlalchemy_url)
    services = build_services(settings)
    run(lambda: _chat(services, _lang(lang), session))


def serve(
    host: HostOption = None,
    port: PortOption = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker processes (PostgreSQL for more than 1).")
    ] = 1,
    background: Annotated[
        bool,
        typer.Option(
            "--background/--no-background",
            help="Also run the background jobs (off when `helpdesk worker` runs them).",
        ),
    ] = True,
) -> None:
    """Run the web app (health checks, metrics, pages, platform webhooks)."""
    settings = _listening(load_settings(), host, port)
    setup_logging(settings)
    if workers > 1:
        serve_workers(settings, workers, background=background)
        return
    services = build_services(settings)

    def app() -> Starlette:
        # Built in uvicorn's event loop: a platform's HTTP client (LINE's) binds to it.
        adapters = configured(services, Engine(services))
        return create_app(services, adapters=adapters, mail_worker=background)

    uvicorn.run(app, factory=True, **uvicorn_options(settings))


def run_command(
    lang: LangOption = None,
    host: HostOption = None,
    port: PortOption = None,
    session: SessionOption = None,
) -> None:
    """The embedded default: migrate, seed the demo directory, serve the web app, chat."""
    settings = _listening(load_settings(), host, port)
    setup_logging(settings, chat_log_level(settings))
    migrate.upgrade(settings.sqlalchemy_url)
    services = build_services(settings)

    async def main() -> None:
        # One event loop for everything: pooled asyncpg connections belong to the loop
        # that opened them.
        await seed(services)
        config = uvicorn.Config(
            create_app(services),
            host=settings.web_host,
            port=settings.web_port,
            log_level="warning",
            lifespan="off",
            **server_options(settings.trusted_proxies),
        )
        server = uvicorn.Server(config)
        web = asyncio.create_task(server.serve())
        await asyncio.sleep(0.2)
        if web.done():
            err.print(f"[yellow]The web app could not start on port {settings.web_port}.[/yellow]")
        else:
            err.print(f"Web app on {settings.public_url.rstrip('/')}/healthz")
        try:
            await _chat(services, _lang(lang), session)
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await web

    run(main)
