"""Section 3: do password changes slow down other chats?

One worker (this process, PostgreSQL) answers ID-lookup turns at a steady rate (open
loop) while password changes arrive at 10 a second. A change is the real thing: a
POST of the password page (``/password/<token>``, a reset link) to our ASGI app, which
checks the policy (zxcvbn included), verifies the new password against the current
hash (no reuse), hashes it with argon2id and stores it, ends the other links, queues
the notice mail and writes the audit row. The CSRF pair is made by the bench, as the
page's GET would set it. Argon2id runs at the configured parameters (the settings'
defaults, or ``HELPDESK_ARGON2_*``), and again at OWASP's minimum for comparison.

Hashing (argon2id and zxcvbn) runs in ``core.passwords``' process pool, at a lower
priority than the process answering the chats. If the machine cannot hash as fast as
changes arrive, at most ``MAX_IN_FLIGHT`` changes wait at once and the rest are not
started (and counted): the bench stays bounded, and the change rate achieved is
reported beside the latencies.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import secrets
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.common import Databases, Figure, asgi_post, ms, open_loop, percentile, settings_for
from bench.directory import Chat, load_people, lookup_turn, place_at_birthday, spread, student_id
from bot.engine import Engine
from bot.services import Services, build_services
from bot.web import create_app
from core import tokens
from core.models import Account
from core.settings import OWASP_MIN_MEMORY_KIB, OWASP_MIN_TIME_COST

PEOPLE = 5_000
CHANGE_RATE = 10.0
# Changes waiting at once (for the hashing pool): a bound, so a machine that hashes slower
# than changes arrive keeps a finite queue; what does not fit is counted, not started.
MAX_IN_FLIGHT = 32
OLD_PASSWORD = "Old-Passw0rd!"
_passwords = itertools.count(1)


class Changer:
    """Password changes through the page, each on its own account and link."""

    def __init__(self, services: Services, accounts: list[int]) -> None:
        self.services = services
        self.app = create_app(services)
        self.accounts = accounts
        self.tokens: list[str] = []
        self.done = 0
        self.dropped = 0

    async def issue(self) -> None:
        now = self.services.clock.now()
        async with self.services.sessions() as session, session.begin():
            self.tokens = [
                await tokens.issue(
                    session,
                    purpose=tokens.Purpose.RESET,
                    subject=f"account:{account}",
                    lifetime=dt.timedelta(minutes=15),
                    now=now,
                    data={"locale": "en"},
                )
                for account in self.accounts
            ]

    async def change(self) -> None:
        token = self.tokens.pop()
        csrf = secrets.token_urlsafe(24)
        new = f"Qz{secrets.token_hex(5)}!{next(_passwords)}Wm"
        body = urllib.parse.urlencode(
            {"csrf": csrf, "new_password": new, "confirm_password": new}
        ).encode()
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "cookie": f"helpdesk_csrf={csrf}",
        }
        status = await asgi_post(self.app, f"/password/{token}", body, headers)
        if status != 200:
            raise RuntimeError(f"the password page answered {status}")
        self.done += 1

    async def run(self, seconds: float) -> float:
        """Start a change every 1/CHANGE_RATE s for ``seconds``; return changes done a second."""
        in_flight: set[asyncio.Task[None]] = set()
        start = time.perf_counter()
        ticks = int(seconds * CHANGE_RATE)
        for n in range(ticks):
            delay = start + n / CHANGE_RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(in_flight) >= MAX_IN_FLIGHT or not self.tokens:
                self.dropped += 1
                continue
            task = asyncio.create_task(self.change())
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        done_in_window = self.done
        window = time.perf_counter() - start
        async with asyncio.timeout(120):
            await asyncio.gather(*in_flight)
        return done_in_window / window


async def prepare(services: Services, first: int, count: int) -> list[int]:
    """Accounts for ``count`` people from ``first`` on, sharing one hash of the old password."""
    stored = await services.passwords.hash(OLD_PASSWORD)
    now = services.clock.now()
    async with services.sessions() as session, session.begin():
        session.add_all(
            Account(
                person_id=i + 1,
                username=student_id(i),
                kind="portal",
                password_hash=stored,
                password_changed_at=now,
                must_change=False,
            )
            for i in range(first, first + count)
        )
    async with services.sessions() as session:
        ids = await session.scalars(
            select(Account.id).where(
                Account.username.in_([student_id(i) for i in range(first, first + count)])
            )
        )
        return list(ids)


async def lookups(
    services: Services, engine: Engine, chats: list[Chat], rate: float, seconds: float
) -> list[float]:
    count = int(rate * seconds)

    async def call(i: int) -> None:
        await lookup_turn(engine, chats[i])

    _, latencies = await open_loop(count, rate, call, deadline=seconds + 60)
    return ms(latencies)


async def measure(
    dbs: Databases,
    home: Path,
    *,
    runs: int,
    seconds: float,
    rate: float,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    url = await dbs.fresh("postgresql")
    configured = build_services(settings_for(url, home))
    owasp = build_services(
        settings_for(
            url,
            home,
            argon2_time_cost=OWASP_MIN_TIME_COST,
            argon2_memory_kib=OWASP_MIN_MEMORY_KIB,
            argon2_parallelism=1,
        )
    )
    s = configured.settings
    params = {
        "configured": f"t={s.argon2_time_cost}, m={s.argon2_memory_kib // 1024} MiB, "
        f"p={s.argon2_parallelism}",
        "owasp": f"t={OWASP_MIN_TIME_COST}, m={OWASP_MIN_MEMORY_KIB // 1024} MiB, p=1",
    }
    per_condition = int(seconds * CHANGE_RATE) + 1
    figures: dict[str, dict[str, Figure]] = {
        name: {
            "p50_ms": Figure(),
            "p99_ms": Figure(),
            "changes_per_s": Figure(),
            "dropped": Figure(),
        }
        for name in ("none", "configured", "owasp")
    }
    try:
        await load_people(configured.pii, 0, PEOPLE)
        first = 0
        for n in range(runs):
            for name, services in (
                ("none", configured),
                ("configured", configured),
                ("owasp", owasp),
            ):
                engine = Engine(services)
                people = list(spread(PEOPLE, int(rate * seconds), salt=n * 3 + len(name)))
                chats = await place_at_birthday(services, people)
                if name == "none":
                    latencies = await lookups(services, engine, chats, rate, seconds)
                    achieved, dropped = 0.0, 0
                else:
                    changer = Changer(services, await prepare(services, first, per_condition))
                    first += per_condition
                    await changer.issue()
                    latencies, achieved = await asyncio.gather(
                        lookups(services, engine, chats, rate, seconds), changer.run(seconds)
                    )
                    dropped = changer.dropped
                figures[name]["p50_ms"].add(percentile(latencies, 50))
                figures[name]["p99_ms"].add(percentile(latencies, 99))
                figures[name]["changes_per_s"].add(achieved)
                figures[name]["dropped"].add(dropped)
                p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
                log(
                    f"  run {n + 1} hashing={name}: {len(latencies)} lookups at {rate:.0f}/s, "
                    f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
                    + (
                        f", {achieved:.1f} changes/s done, {dropped} not started"
                        if name != "none"
                        else ""
                    )
                )
    finally:
        await configured.close()
        await owasp.close()
    return {"figures": figures, "params": params}


def added_p99(result: dict[str, Any], name: str) -> Figure:
    """How much the lookups' p99 grew with changes alongside, run by run."""
    figures = result["figures"]
    base, loaded = figures["none"]["p99_ms"].runs, figures[name]["p99_ms"].runs
    return Figure([a - b for a, b in zip(loaded, base, strict=False)])
