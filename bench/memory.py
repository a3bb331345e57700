"""Section 6: a worker's memory, and what a conversation leaves in the database.

A worker process (``bench/worker.py``: our ASGI app with the Telegram adapter, uvicorn,
PostgreSQL) is started; its resident set size (VmRSS) is read when it is idle after
start, after the first 100 conversations (warm: every code path loaded), and after
10,000. Each conversation is a new private chat whose user sends "/start" (over HTTP to
the webhook, 32 at a time), answered with the greeting and the menu. The engine keeps
no per-chat state in memory, so what grows is the database: its tables' size (with
indexes and TOAST) before and after, over the conversations, is the bytes stored per
conversation.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg

from bench.common import (
    WEBHOOK_SECRET,
    Databases,
    Figure,
    asyncpg_dsn,
    closed_loop,
    free_port,
    process,
    rss_kib,
    stand_in_stats,
)
from bench.telegram_turn import update
from bot.adapters.telegram import SECRET_HEADER
from core.models import Base

_chats = itertools.count(70_000_000)


async def table_bytes() -> dict[str, int]:
    connection = await asyncpg.connect(asyncpg_dsn())
    try:
        return {
            table.name: int(
                await connection.fetchval("SELECT pg_total_relation_size($1)", table.name)
            )
            for table in Base.metadata.sorted_tables
        }
    finally:
        await connection.close()


async def conversations(url: str, count: int) -> float:
    """``count`` new chats each sending "/start"; return the seconds it took."""
    headers = {"Content-Type": "application/json", SECRET_HEADER: WEBHOOK_SECRET}
    streams = [[update(next(_chats), "/start")] for _ in range(count)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:

        async def turn(body: bytes) -> None:
            async with session.post(f"{url}/telegram/webhook", data=body, headers=headers) as r:
                if r.status != 200:
                    raise RuntimeError(f"webhook answered {r.status}")
                await r.read()

        elapsed, latencies = await closed_loop(streams, turn, concurrency=32, deadline=240.0)
    if len(latencies) != count:
        raise RuntimeError(f"only {len(latencies)} of {count} conversations within the time")
    return elapsed


async def measure(
    dbs: Databases,
    api: str,
    *,
    count: int,
    batches: int = 4,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``count`` conversations in ``batches``; growth per conversation is taken per batch."""
    database = await dbs.fresh("postgresql")
    port = free_port()
    rss_growth, db_bytes = Figure(), Figure()
    per_batch = count // batches
    with process(["-m", "bench.worker", "telegram", database, api, str(port)]) as worker:
        url = f"http://127.0.0.1:{port}"
        await asyncio.sleep(2.0)  # let it settle: the background delivery loop has run
        idle = rss_kib(worker.pid)
        await conversations(url, 100)
        warm = rss_kib(worker.pid)
        first = before = await table_bytes()
        rss = warm
        await stand_in_stats(api, reset=True)
        seconds = 0.0
        for _ in range(batches):
            seconds += await conversations(url, per_batch)
            now_rss, after = rss_kib(worker.pid), await table_bytes()
            rss_growth.add((now_rss - rss) * 1024 / per_batch)
            db_bytes.add((sum(after.values()) - sum(before.values())) / per_batch)
            rss, before = now_rss, after
        stats = await stand_in_stats(api)
    done = per_batch * batches
    sent = stats["calls"].get("sendMessage", 0)
    if sent != 2 * done:
        raise RuntimeError(f"expected two replies per /start, got {sent} for {done}")
    grown = {name: after[name] - first[name] for name in after if after[name] != first[name]}
    result = {
        "conversations": done,
        "rss_idle_kib": idle,
        "rss_warm_kib": warm,
        "rss_after_kib": rss,
        "rss_growth": rss_growth,
        "db_bytes": db_bytes,
        "db_bytes_by_table": {name: size / done for name, size in grown.items()},
        "conversations_per_s": done / seconds,
    }
    log(
        f"  RSS idle {idle / 1024:.0f} MiB, warm {warm / 1024:.0f} MiB, after {done:,} "
        f"conversations {rss / 1024:.0f} MiB; {db_bytes.median:.0f} bytes stored per "
        f"conversation ({done / seconds:.0f} conversations/s)"
    )
    return result
