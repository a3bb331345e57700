"""Section 5: alumni-card refreshes a second, by one worker process and by two.

Each open card (a ``CardView`` row) whose code changes now is claimed by
``CardRefresher.run_once`` (``FOR UPDATE SKIP LOCKED``, 50 at a time) and rendered
anew (code, QR PNG, caption); the send to the platform is not part of it. The bench
opens ``count`` cards, all due, then tells one or two worker processes to refresh until
nothing is due; the rate is the cards refreshed over the time from the first worker's
start to the last one's end. Workers are started once and stay up between runs.

``python -m bench.cards DATABASE_URL`` is such a worker: it answers "ready", then for
each "go" line refreshes what is due and prints what it did as JSON.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.common import Databases, Figure, process, settings_for
from bench.directory import load_people
from bot.card_images import cipher_of
from bot.card_refresh import CardRefresher
from bot.services import Services, build_services
from core.cards import new_secret
from core.models import AlumniCard, CardStatus, CardView

MAX_ROUNDS = 1000


async def open_cards(services: Services, count: int) -> None:
    """``count`` alumni with an active card open in a chat, all due for a refresh."""
    await load_people(services.pii, 0, count)
    now = services.clock.now()
    cipher = cipher_of(services)
    async with services.sessions() as session, session.begin():
        cards = [
            {
                "id": i + 1,
                "person_id": i + 1,
                "card_type": "digital",
                "status": CardStatus.ACTIVE,
                "secret_encrypted": cipher.encrypt(new_secret()),
                "valid_until": dt.date(2030, 6, 30),
                "last_accepted_step": 0,
                "applied_at": now,
                "decided_at": now,
            }
            for i in range(count)
        ]
        await session.execute(insert(AlumniCard), cards)
        views = [
            {
                "card_id": i + 1,
                "channel": "telegram",
                "chat_id": str(900_000_000 + i),
                "locale": "zh_TW" if i % 2 else "en",
                "opened_at": now - dt.timedelta(minutes=1),
                "closes_at": now + dt.timedelta(minutes=14),
                "next_refresh_at": now - dt.timedelta(seconds=1),
                "refreshes": 0,
                "closed_at": None,
            }
            for i in range(count)
        ]
        await session.execute(insert(CardView), views)


async def refresh_all(refresher: CardRefresher) -> dict[str, Any]:
    """Refresh until nothing is due; the wall-clock span and the count."""
    start = time.time()
    count = 0
    for _ in range(MAX_ROUNDS):
        done = await refresher.run_once()
        if not done:
            break
        count += sum(1 for refresh in done if refresh.edit is not None)
    return {"count": count, "start": start, "end": time.time()}


async def serve_worker(database_url: str) -> None:
    with tempfile.TemporaryDirectory(prefix="helpdesk-cards-") as home:
        services = build_services(settings_for(database_url, Path(home)))
        refresher = CardRefresher(services)
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        for _ in range(MAX_ROUNDS):
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if line.strip() != "go":
                break
            print(json.dumps(await refresh_all(refresher)), flush=True)
        await services.close()


async def measure(
    dbs: Databases,
    home: Path,
    *,
    runs: int,
    count: int,
    log: Callable[[str], None] = print,
) -> dict[str, Figure]:
    figures = {"1 worker": Figure(), "2 workers": Figure()}
    url = await dbs.fresh("postgresql")
    with ExitStack() as stack:
        workers = [
            stack.enter_context(process(["-m", "bench.cards", url], stdin=True)) for _ in range(2)
        ]
        for n in range(runs):
            for name, active in (("1 worker", workers[:1]), ("2 workers", workers)):
                url = await dbs.fresh("postgresql")
                services = build_services(settings_for(url, home))
                try:
                    await open_cards(services, count)
                finally:
                    await services.close()
                for worker in active:
                    assert worker.stdin is not None
                    worker.stdin.write("go\n")
                    worker.stdin.flush()
                reports = []
                for worker in active:
                    assert worker.stdout is not None
                    line = await asyncio.to_thread(worker.stdout.readline)
                    reports.append(json.loads(line))
                total = sum(r["count"] for r in reports)
                if total != count:
                    raise RuntimeError(f"{total} of {count} cards refreshed")
                span = max(r["end"] for r in reports) - min(r["start"] for r in reports)
                figures[name].add(total / span)
                shares = "+".join(str(r["count"]) for r in reports)
                log(f"  run {n + 1} {name}: {total} cards ({shares}) in {span:.2f} s")
    return figures


if __name__ == "__main__":
    asyncio.run(serve_worker(sys.argv[1]))
