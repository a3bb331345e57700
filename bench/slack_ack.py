"""Section 2: how fast Slack gets its ack, ours against a bare slack-bolt app.

Each side is a worker process (``bench/worker.py``) serving on 127.0.0.1 with uvicorn,
as ``helpdesk serve`` does. This process sends signed ``message.im`` events to it at a
fixed rate (open loop: an event is sent on time whether or not earlier ones were
answered) and times each until the HTTP answer (Bolt's ack). Ours then does the work
after the ack, in the same process: the sender's locale (``users.info``, cached), one
engine turn on PostgreSQL and the replies (``chat.postMessage``) to the stand-in, so
the acks share the event loop with that work. Between runs the bench waits until our
worker has posted every reply, and reports how long that took.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bench.common import (
    SLACK_SIGNING_SECRET,
    Databases,
    Figure,
    free_port,
    ms,
    open_loop,
    percentile,
    process,
    stand_in_stats,
)
from tests.slack_stub import event_callback, signed_headers

_ids = itertools.count(1)
USERS = 200


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
    raise RuntimeError(f"our worker did not post every reply within {within} s")


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
    """Each app at ``rate`` (``count`` events) and at ``low_rate`` (a fifth as many)."""
    loads = ((f"{rate:.0f}/s", rate, count), (f"{low_rate:.0f}/s", low_rate, max(20, count // 5)))
    figures: dict[str, dict[str, Figure]] = {
        f"{name} {load}": {"p50_ms": Figure(), "p99_ms": Figure(), "rate": Figure()}
        for name in ("ours", "bolt")
        for load, _, _ in loads
    }
    handled = Figure()
    database = await dbs.fresh("postgresql")
    ours_port, bare_port = free_port(), free_port()
    with (
        process(["-m", "bench.worker", "slack", database, api, str(ours_port)]),
        process(["-m", "bench.worker", "bare-slack", database, api, str(bare_port)]),
    ):
        urls = {"ours": f"http://127.0.0.1:{ours_port}", "bolt": f"http://127.0.0.1:{bare_port}"}
        await stand_in_stats(api, reset=True)
        for url in urls.values():  # warm up: Bolt's auth.test, the engine, connections
            await one_run(url, count=USERS, rate=100.0)
        await drained(api, 2 * USERS, within=60.0)
        for n in range(runs):
            for load, events_per_s, events in loads:
                for name, url in urls.items():
                    await stand_in_stats(api, reset=True)
                    run = await one_run(url, count=events, rate=events_per_s)
                    for key, figure in figures[f"{name} {load}"].items():
                        figure.add(run[key])
                    line = f"  run {n + 1} {name}: {events} events at {run['rate']:.0f}/s, ack "
                    line += f"p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms"
                    if name == "ours":
                        # "menu" is answered with two messages: the greeting and the menu.
                        seconds = await drained(api, 2 * events, within=120.0)
                        if events_per_s == rate:
                            handled.add(events / (seconds + events / events_per_s))
                        line += f"; all replies posted {seconds:.1f} s after the last ack"
                    log(line)
    return {"figures": figures, "handled_per_s": handled, "loads": [load for load, _, _ in loads]}
