"""Section 2: how fast Slack gets its ack, ours against a bare slack-bolt app, and how
many events our job workers handle a second, with one and with two of them.

Each side is a web worker process (``bench/worker.py``) serving on 127.0.0.1 with
uvicorn, as ``helpdesk serve`` does. This process sends signed ``message.im`` events to
it at a fixed rate (open loop: an event is sent on time whether or not earlier ones were
answered) and times each until the HTTP answer (Bolt's ack). Ours serves with
``HELPDESK_JOB_WORKER=separate``: the request verifies, queues the event on PostgreSQL
(core/jobs.py) and acknowledges; ``helpdesk worker`` processes run the work after the
ack: the sender's locale (``users.info``, cached per process), one engine turn and the
replies (``chat.postMessage``) to the stand-in.

Our acks are timed twice: with the job worker stopped (SIGSTOP) while the events arrive,
which is the ack path's own cost, and with it handling them at the same time, as it does
when it shares this machine's two cores with the web worker. Events fully handled a
second are measured on what the stopped workers find queued once continued: the events
over the time until the last reply is posted, with one job worker and with two.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import (
    PROFILE,
    SECRET_KEY,
    SLACK_SIGNING_SECRET,
    Databases,
    Figure,
    free_port,
    ms,
    open_loop,
    percentile,
    process,
    ratio,
    stand_in_stats,
)
from tests.slack_stub import event_callback, signed_headers

_ids = itertools.count(1)
USERS = 200
HELPDESK = Path(sys.executable).with_name("helpdesk")
READY = "Background jobs running"  # what ``helpdesk worker`` says once it runs
START_SECONDS = 60.0


def signed_event(n: int) -> tuple[bytes, dict[str, str]]:
    user = f"U{n % USERS:05d}"
    event = {
        "type": "message",
        "channel": f"D{n % USERS:05d}",
        "channel_type": "im",
        "user": user,
        "text": "menu",
        "ts": f"{int(time.time())}.{n:06d}",
    }
    body = json.dumps(event_callback(event, f"Ev{next(_ids):08d}")).encode()
    return body, {"Content-Type": "application/json", **signed_headers(SLACK_SIGNING_SECRET, body)}


async def one_run(url: str, *, count: int, rate: float) -> dict[str, Any]:
    requests = [signed_event(n) for n in range(count)]
    statuses: list[int] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call(i: int) -> None:
            body, headers = requests[i]
            async with session.post(f"{url}/slack/events", data=body, headers=headers) as answer:
                statuses.append(answer.status)
                await answer.read()

        sent_rate, latencies = await open_loop(count, rate, call, deadline=60.0)
    if len(statuses) != count or set(statuses) != {200}:
        raise RuntimeError(f"not every event was acknowledged with 200: {set(statuses)}")
    return {
        "events": count,
        "rate": sent_rate,
        "p50_ms": percentile(ms(latencies), 50),
        "p99_ms": percentile(ms(latencies), 99),
    }


async def drained(api: str, expected_posts: int, *, within: float) -> float:
    """Seconds until the stand-in has seen ``expected_posts`` chat.postMessage calls."""
    start = time.perf_counter()
    while time.perf_counter() - start < within:
        stats = await stand_in_stats(api)
        if stats["calls"].get("chat.postMessage", 0) >= expected_posts:
            return time.perf_counter() - start
        await asyncio.sleep(0.1)
    raise RuntimeError(f"our workers did not post every reply within {within} s")


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    """Environment variables for the child processes started inside the block."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def job_worker(database: str, api: str, home: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A ``helpdesk worker`` running the queued Slack jobs; stopped with SIGTERM after."""
    home.mkdir(parents=True, exist_ok=True)
    log = home / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "HELPDESK_HOME": str(home),
        "HELPDESK_PROFILE": str(PROFILE),
        "HELPDESK_SECRET_KEY": SECRET_KEY,  # the web side's: it opens the sealed events
        "HELPDESK_SLACK_BOT_TOKEN": "xoxb-bench-token",
        "HELPDESK_SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
        "HELPDESK_SLACK_API_URL": f"{api}/api/",
        "HELPDESK_LOG_LEVEL": "WARNING",
    }
    with log.open("wb") as stderr:
        child = subprocess.Popen(
            [str(HELPDESK), "worker"],
            env=env,
            stdin=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while READY not in log.read_text(errors="replace"):
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"helpdesk worker did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextlib.contextmanager
def paused(workers: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """The job workers stopped (SIGSTOP) inside the block and continued after it."""
    for child in workers:
        child.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for child in workers:
            child.send_signal(signal.SIGCONT)


async def measure(
    dbs: Databases,
    api: str,
    *,
    runs: int,
    count: int,
    rate: float = 500.0,
    low_rate: float = 50.0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Each app at ``rate`` (``count`` events) and at ``low_rate`` (a fifth as many).

    ``figures["ours <load>"]``: our acks while one job worker handles the events beside
    the web worker (on this machine's two cores); ``figures["ours 2 workers <rate>"]``
    the same with two. ``figures["ours queued only <rate>"]``: our acks while the job
    worker is stopped (SIGSTOP), i.e. the ack path's own cost. ``handled_per_s`` and
    ``handled_per_s_2_workers``: the events queued while the workers were stopped, over
    the time from continuing them to the last reply posted; ``scaling`` is two over one,
    run by run.
    """
    loads = ((f"{rate:.0f}/s", rate, count), (f"{low_rate:.0f}/s", low_rate, max(20, count // 5)))
    names = [f"{name} {load}" for name in ("ours", "bolt") for load, _, _ in loads]
    queued_only, two = f"ours queued only {loads[0][0]}", f"ours 2 workers {loads[0][0]}"
    figures: dict[str, dict[str, Figure]] = {
        name: {"p50_ms": Figure(), "p99_ms": Figure(), "rate": Figure()}
        for name in [*names, queued_only, two]
    }
    handled = {1: Figure(), 2: Figure()}
    database = await dbs.fresh("postgresql")
    ours_port, bare_port = free_port(), free_port()
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-slack-")))
        with environ(HELPDESK_JOB_WORKER="separate"):  # the web worker only queues
            stack.enter_context(
                process(["-m", "bench.worker", "slack", database, api, str(ours_port)])
            )
        stack.enter_context(
            process(["-m", "bench.worker", "bare-slack", database, api, str(bare_port)])
        )
        first = stack.enter_context(job_worker(database, api, home / "worker-1"))
        urls = {"ours": f"http://127.0.0.1:{ours_port}", "bolt": f"http://127.0.0.1:{bare_port}"}
        await stand_in_stats(api, reset=True)
        for url in urls.values():  # warm up: Bolt's auth.test, the engine, connections
            await one_run(url, count=USERS, rate=100.0)
        await drained(api, 2 * USERS, within=60.0)

        def note(n: int, name: str, run: dict[str, Any], how: str) -> None:
            log(
                f"  run {n + 1} {name}: {run['events']} events at {run['rate']:.0f}/s, ack "
                f"p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms{how}"
            )

        async def ours(events: int, events_per_s: float) -> tuple[dict[str, Any], float]:
            """One run of ours; then the seconds until every reply was posted."""
            await stand_in_stats(api, reset=True)
            run = await one_run(urls["ours"], count=events, rate=events_per_s)
            # "menu" is answered with two messages: the greeting and the menu.
            return run, await drained(api, 2 * events, within=120.0)

        async def throughput(
            workers: list[subprocess.Popen[bytes]],
        ) -> tuple[dict[str, Any], float]:
            """Events queued while the workers are stopped, then handled: events a second."""
            with paused(workers):
                await stand_in_stats(api, reset=True)
                run = await one_run(urls["ours"], count=count, rate=rate)
            return run, count / await drained(api, 2 * count, within=120.0)

        def add(name: str, run: dict[str, Any]) -> None:
            for key, figure in figures[name].items():
                figure.add(run[key])

        for n in range(runs):
            run, per_s = await throughput([first])
            add(queued_only, run)
            handled[1].add(per_s)
            note(n, "ours", run, f"; job worker stopped, then {per_s:.0f} events/s handled")
            for load, events_per_s, events in loads:
                run, seconds = await ours(events, events_per_s)
                add(f"ours {load}", run)
                note(n, "ours", run, f"; 1 job worker beside, all replies in {seconds:.1f} s")
                await stand_in_stats(api, reset=True)
                bolt = await one_run(urls["bolt"], count=events, rate=events_per_s)
                add(f"bolt {load}", bolt)
                note(n, "bolt", bolt, "")
            with job_worker(database, api, home / "worker-2") as second:
                run, per_s = await throughput([first, second])
                handled[2].add(per_s)
                note(n, "ours", run, f"; 2 job workers stopped, then {per_s:.0f} events/s handled")
                run, seconds = await ours(count, rate)
                add(two, run)
                note(n, "ours", run, f"; 2 job workers beside, all replies in {seconds:.1f} s")
            gain = handled[2].runs[-1] / handled[1].runs[-1]
            log(f"  run {n + 1}: 2 job workers over 1: {gain:.2f}x")
    return {
        "figures": figures,
        "handled_per_s": handled[1],
        "handled_per_s_2_workers": handled[2],
        "scaling": ratio(handled[2], handled[1]),
        "loads": [load for load, _, _ in loads],
    }
