"""Our slowest path, looked into: ``python -m bench.profile_turn [profile|clients]``.

- ``profile`` (the default): pyinstrument over our Telegram turn on PostgreSQL with 32
  chats at once (section 1's setup), written to ``bench/results/profile-telegram-turn.txt``
  and ``.html``; ``profile-httpx`` the same on python-telegram-bot's default client
  (``profile-telegram-turn-httpx.*``), as the adapter was before.
- ``clients``: our Telegram turn with the adapter's HTTP client (aiohttp) against the
  same adapter on python-telegram-bot's default client (httpx), in the same run.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from telegram.ext import AIORateLimiter, ApplicationBuilder

from bench.common import (
    BENCH_DIR,
    TOKEN,
    WEBHOOK_SECRET,
    Databases,
    Figure,
    asgi_post,
    closed_loop,
    drop_pg_database,
    stand_in,
    workdir,
)
from bench.common import settings_for as bench_settings
from bench.telegram_turn import conversations_for, ours, run_once
from bot.adapters.telegram import SECRET_HEADER, TelegramAdapter
from bot.engine import Engine
from bot.services import build_services
from bot.web import create_app


@asynccontextmanager
async def ours_on_httpx(database_url: str, api: str, home: Path) -> AsyncIterator[Any]:
    """Our adapter as built, but on python-telegram-bot's default HTTP client (httpx)."""
    services = build_services(bench_settings(database_url, home, telegram_api_url=f"{api}/bot"))
    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(f"{api}/bot")
        .rate_limiter(AIORateLimiter(overall_max_rate=0, max_retries=3))
        .updater(None)
        .build()
    )
    adapter = TelegramAdapter(services, Engine(services), application)
    await application.initialize()
    app = create_app(services, adapters=[adapter])
    headers = {"content-type": "application/json", SECRET_HEADER: WEBHOOK_SECRET}

    async def turn(body: bytes) -> None:
        if await asgi_post(app, "/telegram/webhook", body, headers) != 200:
            raise RuntimeError("webhook failed")

    try:
        yield turn, services
    finally:
        await application.shutdown()
        await services.close()


async def clients(runs: int = 3) -> None:
    async with workdir() as home:
        dbs = Databases(home)
        await dbs.setup()
        try:
            with stand_in() as api:
                figures: dict[str, Figure] = {}
                for n in range(runs):
                    for mode, workers, chats in (("sequential", 1, 60), ("32 chats", 32, 192)):
                        for name, build in (("aiohttp", ours), ("httpx", ours_on_httpx)):
                            url = await dbs.fresh("postgresql")
                            async with build(url, api, home) as (turn, _services):
                                run = await run_once(
                                    turn, api, chats=chats, concurrency=workers, deadline=30.0
                                )
                            key = f"{mode}, {name}"
                            figures.setdefault(key, Figure()).add(run["updates_per_s"])
                            print(f"run {n + 1} {key}: {run['updates_per_s']:.0f} updates/s, "
                                  f"p99 {run['p99_ms']:.1f} ms", file=sys.stderr)  # fmt: skip
                print("| ours on PostgreSQL | updates/s |\n|---|---|")
                for key, figure in figures.items():
                    print(f"| {key} | {figure.show()} |")
        finally:
            await drop_pg_database()


async def profile(*, httpx: bool = False) -> None:
    async with workdir() as home:
        dbs = Databases(home)
        await dbs.setup()
        try:
            with stand_in() as api:
                url = await dbs.fresh("postgresql")
                build = ours_on_httpx if httpx else ours
                async with build(url, api, home) as (turn, _services):
                    setup, timed, _ = conversations_for(256)
                    await closed_loop(setup, turn, concurrency=32, deadline=60.0)
                    profiler = Profiler(interval=0.001, async_mode="enabled")
                    profiler.start()
                    elapsed, latencies = await closed_loop(
                        timed, turn, concurrency=32, deadline=60.0
                    )
                    profiler.stop()
        finally:
            await drop_pg_database()
    out = BENCH_DIR / "results"
    out.mkdir(exist_ok=True)
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    name = "profile-telegram-turn" + ("-httpx" if httpx else "")
    (out / f"{name}.txt").write_text(text)
    (out / f"{name}.html").write_text(profiler.output_html())
    print(f"{len(latencies)} turns, {len(latencies) / elapsed:.0f} updates/s under the profiler")
    print(text)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "profile"
    if command == "clients":
        asyncio.run(clients())
    else:
        asyncio.run(profile(httpx=command == "profile-httpx"))
