"""Section 9: several web workers on one PostgreSQL, the Telegram turn at 32 chats with 1 and 2.

Each configuration is our app served as ``helpdesk serve`` serves it: one process for one
worker (``uvicorn.run`` of the factory, as ``helpdesk serve`` does), and for two
``bot.cli.workers.serve_workers`` itself (uvicorn's supervisor, two processes sharing one
listening socket, multi-process metrics, the drain on SIGTERM). Each process builds the
app from the environment with ``bot.cli.workers.worker_app``; the only change is that
Telegram's overall rate limit is lifted as in section 1 (``AIORateLimiter`` holds each
process to Telegram's 30 messages a second, which is all it would measure otherwise).

The bench POSTs the updates of section 1's flow to ``/telegram/webhook`` over HTTP
(aiohttp, keep-alive): new chats get "/start" untimed, then 32 chats at once each send
their three turns, the next when the last was answered; the replies go to the stand-in
process. Both worker counts use the same PostgreSQL database, emptied between runs, and
alternate run by run, so drift on the machine hits them alike. The scaling ratio is
two workers' updates a second over one worker's, taken run by run.

``python -m bench.scaling serve WORKERS`` is the server side (settings from the
environment, as ``helpdesk serve`` reads them).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("PTB_TIMEDELTA", "true")

import aiohttp

from bench.common import (
    PROFILE,
    PYTHON,
    ROOT,
    SECRET_KEY,
    TOKEN,
    WEBHOOK_SECRET,
    Databases,
    Figure,
    closed_loop,
    free_port,
    ratio,
    stand_in_stats,
    turn_figures,
)
from bench.telegram_turn import conversations_for
from bot.adapters.telegram import SECRET_HEADER
from bot.cli.workers import BACKGROUND_ENV

FIGURES = ("updates_per_s", "p50_ms", "p99_ms", "server_cpu_ms", "machine_busy")
READY_ENV = "BENCH_READY_DIR"  # where each worker marks that its app has started
START_SECONDS = 120.0  # for all workers to start (imports on a busy 2-core machine)


# -- the server side ------------------------------------------------------------------------


def worker_app() -> Any:
    """``bot.cli.workers.worker_app`` with Telegram's overall limit lifted, marking its start."""
    from telegram.ext import AIORateLimiter

    from bot.adapters.telegram import TelegramAdapter
    from bot.cli.workers import worker_app as shipped

    app = shipped()
    for route in app.routes:
        adapter = getattr(getattr(route, "endpoint", None), "__self__", None)
        if isinstance(adapter, TelegramAdapter):
            bot = adapter.application.bot
            limiter = AIORateLimiter(overall_max_rate=0, max_retries=3)
            bot._rate_limiter = limiter
    started = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(instance: Any) -> AsyncIterator[None]:
        async with started(instance):
            (Path(os.environ[READY_ENV]) / str(os.getpid())).touch()
            yield

    app.router.lifespan_context = lifespan
    return app


def serve(workers: int) -> None:
    """Serve the bench's factory with ``workers`` processes, as ``helpdesk serve`` would."""
    import uvicorn

    from bot.cli.common import load_settings, setup_logging
    from bot.cli.workers import serve_workers, uvicorn_options

    settings = load_settings()
    setup_logging(settings)
    factory = "bench.scaling:worker_app"
    if workers == 1:
        uvicorn.run(factory, factory=True, **uvicorn_options(settings))
    else:
        serve_workers(settings, workers, background=False, app=factory)


# -- the bench side -------------------------------------------------------------------------


def machine_cpu() -> tuple[float, float]:
    """Seconds of CPU time this machine has spent busy, and in all, since boot (/proc/stat)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def group_cpu(group: int) -> float:
    """Seconds of CPU time (user and system) the live processes of a process group used."""
    hz = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / hz


@contextlib.contextmanager
def served(database_url: str, api: str, workers: int) -> Iterator[tuple[str, int]]:
    """``workers`` worker processes on a free port, every one started.

    Yields the base URL and the process group of the server and its workers.
    """
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-workers-") as folder:
        ready = Path(folder) / "ready"
        ready.mkdir()
        env = {
            **os.environ,
            "PTB_TIMEDELTA": "true",
            READY_ENV: str(ready),
            "DATABASE_URL": database_url,
            "HELPDESK_HOME": str(Path(folder) / "home"),
            "HELPDESK_PROFILE": str(PROFILE),
            "HELPDESK_SECRET_KEY": SECRET_KEY,
            "HELPDESK_TELEGRAM_TOKEN": TOKEN,
            "HELPDESK_TELEGRAM_SECRET": WEBHOOK_SECRET,
            "HELPDESK_TELEGRAM_API_URL": f"{api}/bot",
            "HELPDESK_WEB_HOST": "127.0.0.1",
            "HELPDESK_WEB_PORT": str(port),
            "HELPDESK_LOG_LEVEL": "WARNING",
            BACKGROUND_ENV: "0",  # as deployed: the background jobs run elsewhere
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        child = subprocess.Popen(
            [PYTHON, "-m", "bench.scaling", "serve", str(workers)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # the supervisor and its workers, ended together
        )
        try:
            _started(child, ready, workers, port)
            yield f"http://127.0.0.1:{port}", child.pid
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def _started(child: subprocess.Popen[bytes], ready: Path, workers: int, port: int) -> None:
    """Until every worker's app has started and the port answers (the bench waits for it).

    uvicorn starts the app before a single process listens; several share a socket the
    supervisor opened first.
    """
    deadline = time.monotonic() + START_SECONDS
    while len(list(ready.iterdir())) < workers or not _answers(port):
        if child.poll() is not None:
            raise RuntimeError(f"the server with {workers} worker(s) exited: {child.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workers} worker(s) not started within {START_SECONDS:.0f} s")
        time.sleep(0.1)


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


async def run_once(
    url: str, api: str, group: int, *, chats: int, deadline: float
) -> dict[str, Any]:
    """``chats`` new chats set up (untimed), then their three turns each, 32 chats at once.

    Besides the rate and latencies: the CPU time the server's processes spent per update,
    and how busy the whole machine was (every core) while the turns were timed.
    """
    headers = {"Content-Type": "application/json", SECRET_HEADER: WEBHOOK_SECRET}
    setup, timed, _ = conversations_for(chats)
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def turn(body: bytes) -> None:
            async with session.post(f"{url}/telegram/webhook", data=body, headers=headers) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"webhook answered {r.status}")

        await closed_loop(setup, turn, concurrency=32, deadline=deadline)
        await stand_in_stats(api, reset=True)
        cpu_before, (busy_before, all_before) = group_cpu(group), machine_cpu()
        elapsed, latencies = await closed_loop(timed, turn, concurrency=32, deadline=deadline)
        busy_after, all_after = machine_cpu()
        cpu = group_cpu(group) - cpu_before
    return {
        **await turn_figures(api, elapsed, latencies),
        "server_cpu_ms": cpu * 1000 / len(latencies),
        "machine_busy": (busy_after - busy_before) / (all_after - all_before),
    }


async def measure(
    dbs: Databases,
    api: str,
    *,
    runs: int,
    chats: int,
    deadline: float = 30.0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """1 and 2 workers, ``runs`` times each, alternating; figures per worker count."""
    figures: dict[int, dict[str, Figure]] = {
        n: {name: Figure() for name in FIGURES} for n in (1, 2)
    }
    for n in range(runs):
        for workers in (1, 2):
            database = await dbs.fresh("postgresql")
            with served(database, api, workers) as (url, group):
                await run_once(url, api, group, chats=32, deadline=deadline)  # warm them up
                run = await run_once(url, api, group, chats=chats, deadline=deadline)
            for name, figure in figures[workers].items():
                figure.add(run[name])
            log(
                f"  run {n + 1}, {workers} worker(s): {run['updates']} updates, "
                f"{run['updates_per_s']:.0f}/s, p50 {run['p50_ms']:.1f} ms, "
                f"p99 {run['p99_ms']:.1f} ms, server CPU {run['server_cpu_ms']:.1f} ms an update, "
                f"machine {run['machine_busy']:.0%} busy"
            )
    return {
        "figures": figures,
        "scaling": ratio(figures[2]["updates_per_s"], figures[1]["updates_per_s"]),
    }


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"] or len(sys.argv) != 3:
        raise SystemExit("usage: python -m bench.scaling serve WORKERS")
    serve(int(sys.argv[2]))
