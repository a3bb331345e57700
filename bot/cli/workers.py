"""Several web worker processes (``helpdesk serve --workers N``) and ``helpdesk worker``.

Each web worker is a process of its own that builds the app from the environment
(``worker_app``, uvicorn's factory); the engine keeps no chat in memory, so any worker
takes any request. Their metrics are added up through files in
``PROMETHEUS_MULTIPROC_DIR``, which must be set before the workers import
prometheus-client. ``helpdesk worker`` runs the job queue's worker without serving
HTTP, for a unit of its own: the background rounds (mail queue, chat notices and card
refreshes, reminders, retention, the directory sync; periodic jobs, each run once
across all workers) and Slack's work after the ack.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
from typing import Any

import typer
import uvicorn
from starlette.applications import Starlette

from bot import conversations  # noqa: F401  (registers the flows)
from bot.adapters.base import configured
from bot.cli.common import err, load_settings, run, setup_logging
from bot.engine import Engine
from bot.services import build_services
from bot.web import create_app
from bot.web.security import server_options
from core.metrics import MULTIPROC_ENV, worker_exited
from core.settings import Settings

BACKGROUND_ENV = "HELPDESK_SERVE_BACKGROUND"
STARTUP_SECONDS = 60
# On SIGTERM a web worker stops taking connections and finishes the requests it has
# started (a Telegram or LINE turn runs inside its request), then stops the app; a
# request still running after this many seconds is cancelled. Well inside systemd's
# 90 seconds before SIGKILL, and longer than a turn whose Bot API calls each time out.
DRAIN_SECONDS = 30


def worker_app() -> Starlette:
    """The app of one web worker, from the environment ``serve_workers`` prepared."""
    settings = load_settings()
    setup_logging(settings)
    services = build_services(settings)
    adapters = configured(services, Engine(services))
    background = os.environ.get(BACKGROUND_ENV, "1") == "1"
    # A worker that exits (a restart) takes its live gauges with it.
    atexit.register(worker_exited, os.getpid())
    return create_app(services, adapters=adapters, mail_worker=background)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What every ``serve`` passes uvicorn: address, logging, the trusted proxies, the drain."""
    options: dict[str, Any] = {
        "host": settings.web_host,
        "port": settings.web_port,
        "log_level": settings.log_level.lower(),
        "timeout_graceful_shutdown": DRAIN_SECONDS,
        **server_options(settings.trusted_proxies),
    }
    if settings.log_format == "json":
        options["log_config"] = None  # uvicorn's lines go through our JSON handler
    return options


def serve_workers(
    settings: Settings,
    workers: int,
    *,
    background: bool = True,
    app: str = "bot.cli.workers:worker_app",
) -> None:
    """Serve the app from ``workers`` processes on one port (PostgreSQL only).

    ``app`` is the factory each process calls (the bench wraps ``worker_app``).
    """
    if not settings.sqlalchemy_url.startswith("postgresql"):
        err.print(
            "[red]Several workers need PostgreSQL:[/red] set DATABASE_URL (the embedded "
            "SQLite database is for one process)."
        )
        raise typer.Exit(2)
    os.environ["HELPDESK_WEB_HOST"] = settings.web_host
    os.environ["HELPDESK_WEB_PORT"] = str(settings.web_port)
    os.environ["HELPDESK_PUBLIC_URL"] = settings.public_url
    os.environ[BACKGROUND_ENV] = "1" if background else "0"
    if not os.environ.get(MULTIPROC_ENV):
        folder = settings.home / "metrics"
        shutil.rmtree(folder, ignore_errors=True)  # counts of an earlier run's workers
        folder.mkdir(parents=True, mode=0o700)
        os.environ[MULTIPROC_ENV] = str(folder.resolve())
    uvicorn.run(
        app,
        factory=True,
        workers=workers,
        # A worker imports the whole bot before it answers; on a busy host that takes
        # more than uvicorn's 5 seconds, and it would be killed and started again.
        timeout_worker_healthcheck=STARTUP_SECONDS,
        **uvicorn_options(settings),
    )


def worker() -> None:
    """Run the job queue's worker (core/jobs.py), no HTTP, whatever ``job_worker`` says.

    The background rounds (mail, chat notices, card refreshes, reminders, retention,
    the directory sync) are periodic jobs that it schedules, as a web worker with
    background jobs does; Slack's work after the ack too. With ``separate`` the web
    workers only queue.
    """
    settings = load_settings().model_copy(update={"job_worker": "in_process"})
    setup_logging(settings)
    services = build_services(settings)

    async def main() -> None:
        # Built inside the loop: a platform's HTTP client (LINE's) binds to it.
        adapters = configured(services, Engine(services))
        app = create_app(services, adapters=adapters, mail_worker=True)
        # The app's lifespan starts and stops exactly what a web worker runs beside HTTP.
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)  # systemd's stop
        async with app.router.lifespan_context(app):
            err.print(
                "Background jobs running (mail, notices, card refreshes, retention, queued jobs)."
            )
            await stop.wait()
        await services.close()

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C
        run(main)
