"""What every section of the bench shares: statistics, databases, settings, processes.

Every address is 127.0.0.1. Every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from pydantic import SecretStr
from sqlalchemy import text

from core import migrate
from core.db import create_engine
from core.models import Base
from core.settings import Settings, normalise_database_url

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
PROFILE = BENCH_DIR / "profile.toml"
PYTHON = sys.executable

TOKEN = "123456:BENCH-token"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"
SLACK_SIGNING_SECRET = "bench-slack-signing-secret-0123456789"
SECRET_KEY = "bench-secret-key-for-keyed-hashes-0123456789"

PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")
PG_DATABASE = os.environ.get("BENCH_PG_DATABASE", "helpdesk_bench")


def pg_url() -> str:
    return normalise_database_url(f"{PG_SERVER}/{PG_DATABASE}")


def asyncpg_dsn(database: str = PG_DATABASE) -> str:
    return f"{PG_SERVER}/{database}"


# -- statistics --------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``samples``."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Figure:
    """One figure over several runs: the median, with the smallest and largest run."""

    runs: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.runs.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    def as_json(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "min": min(self.runs) if self.runs else None,
            "max": max(self.runs) if self.runs else None,
            "runs": self.runs,
        }

    def show(self, digits: int = 1) -> str:
        if not self.runs:
            return "–"
        return (
            f"{self.median:,.{digits}f} ({min(self.runs):,.{digits}f}–{max(self.runs):,.{digits}f})"
        )


def ratio(ours: Figure, peer: Figure) -> Figure:
    """Our/peer per run, paired in the order the runs were made."""
    return Figure([a / b for a, b in zip(ours.runs, peer.runs, strict=False) if b])


def ms(seconds: Sequence[float]) -> list[float]:
    return [s * 1000 for s in seconds]


# -- load -------------------------------------------------------------------------------


async def closed_loop(
    streams: Sequence[Sequence[Any]],
    turn: Callable[[Any], Awaitable[None]],
    *,
    concurrency: int,
    deadline: float,
) -> tuple[float, list[float]]:
    """Play ``streams`` (each one chat's updates, in order) with ``concurrency`` chats at once.

    Returns the elapsed seconds and each turn's latency. Stops taking new streams at
    ``deadline`` seconds, so a run is bounded in time as well as in count.
    """
    latencies: list[float] = []
    pending = list(reversed(streams))
    started = time.perf_counter()

    async def worker() -> None:
        while pending and time.perf_counter() - started < deadline:
            for update in pending.pop():
                t0 = time.perf_counter()
                await turn(update)
                latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


async def open_loop(
    count: int, rate: float, call: Callable[[int], Awaitable[None]], *, deadline: float
) -> tuple[float, list[float]]:
    """Start ``call(i)`` at ``rate`` a second, ``count`` times, whether or not earlier ones ended.

    The latency of each is measured from its scheduled start, so a stalled server is
    not hidden by sending less (no coordinated omission). Returns the rate achieved in
    starting them (``count`` over the time to start the last) and the latencies.
    """
    latencies: list[float] = []
    start = time.perf_counter()
    tasks = []

    async def one(i: int, due: float) -> None:
        await call(i)
        latencies.append(time.perf_counter() - due)

    for i in range(count):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.perf_counter() - start > deadline:
            break
        tasks.append(asyncio.create_task(one(i, due)))
    started = len(tasks) / max(time.perf_counter() - start, 1 / rate)
    async with asyncio.timeout(deadline):
        await asyncio.gather(*tasks)
    return started, latencies


# -- ASGI without a server ------------------------------------------------------------------


async def asgi_post(
    app: Callable[..., Awaitable[None]], path: str, body: bytes, headers: dict[str, str]
) -> int:
    """POST ``body`` to an ASGI app in this process; return the status (no socket, no client)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }
    delivered = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(60)  # nobody disconnects
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


# -- databases ---------------------------------------------------------------------------


async def create_pg_database() -> str:
    """(Re)create the bench's own PostgreSQL database, migrated; return its URL."""
    admin = await asyncpg.connect(asyncpg_dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    finally:
        await admin.close()
    await migrate.upgrade_async(pg_url())
    return pg_url()


async def drop_pg_database() -> None:
    admin = await asyncpg.connect(asyncpg_dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
    finally:
        await admin.close()


async def truncate(url: str) -> None:
    """Empty every table of the bench's PostgreSQL database."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            names = ", ".join(table.name for table in Base.metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


class Databases:
    """The bench's databases: a migrated SQLite template to copy, and PostgreSQL."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.template = workdir / "template.db"
        self.pg = pg_url()
        self._copies = 0

    async def setup(self) -> None:
        await migrate.upgrade_async(f"sqlite+aiosqlite:///{self.template}")
        await create_pg_database()

    async def fresh(self, kind: str) -> str:
        """An empty, migrated database of ``kind`` ("sqlite" or "postgresql")."""
        if kind == "postgresql":
            await truncate(self.pg)
            return self.pg
        self._copies += 1
        path = self.workdir / f"run{self._copies}.db"
        shutil.copyfile(self.template, path)
        return f"sqlite+aiosqlite:///{path}"


def settings_for(database_url: str, home: Path, **overrides: Any) -> Settings:
    """The bench's settings: our profile and database, stand-in APIs, configured argon2.

    Argon2 parameters are left to the environment or the defaults, i.e. what a
    deployment configures (``HELPDESK_ARGON2_*``), unless a section overrides them.
    """
    values: dict[str, Any] = {
        "home": home,
        "database_url": database_url,
        "profile": str(PROFILE),
        "secret_key": SecretStr(SECRET_KEY),
        "telegram_token": SecretStr(TOKEN),
        "telegram_secret": SecretStr(WEBHOOK_SECRET),
        "slack_bot_token": SecretStr("xoxb-bench-token"),
        "slack_signing_secret": SecretStr(SLACK_SIGNING_SECRET),
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


# -- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def process(args: list[str], *, stdin: bool = False) -> Iterator[subprocess.Popen[str]]:
    """A child process of ours, waited for "ready" on its stdout, ended when the block ends."""
    child = subprocess.Popen(
        [PYTHON, *args],
        cwd=ROOT,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PTB_TIMEDELTA": "true"},
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"{args} did not start: {line!r}")
        yield child
    finally:
        if child.stdin is not None:
            child.stdin.close()  # a worker reading commands ends on end of input
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
        if child.poll() is None:
            child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextlib.contextmanager
def stand_in() -> Iterator[str]:
    """The light Bot API / Web API stand-in in its own process; yields its base URL."""
    port = free_port()
    with process(["-m", "bench.stand_in", str(port), "900"]):
        yield f"http://127.0.0.1:{port}"


async def stand_in_stats(url: str, *, reset: bool = False) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        path = "/_reset" if reset else "/_stats"
        async with session.post(url + path) as response:
            result: dict[str, Any] = await response.json()
            return result


async def turn_figures(api: str, elapsed: float, latencies: Sequence[float]) -> dict[str, Any]:
    """A timed run's throughput and latency, once the stand-in at ``api`` confirms one
    reply per turn since its last reset (RuntimeError otherwise)."""
    stats = await stand_in_stats(api)
    sent = stats["calls"].get("sendMessage", 0)
    if stats["errors"] or sent != len(latencies):
        raise RuntimeError(f"expected one reply per turn: {len(latencies)} turns, {stats}")
    return {
        "updates": len(latencies),
        "seconds": elapsed,
        "updates_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(ms(latencies), 50),
        "p99_ms": percentile(ms(latencies), 99),
    }


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def load_average() -> tuple[float, ...]:
    return tuple(round(x, 2) for x in os.getloadavg())


@contextlib.asynccontextmanager
async def workdir() -> AsyncIterator[Path]:
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as name:
        yield Path(name)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
