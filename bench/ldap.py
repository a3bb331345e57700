"""The directory port on LDAP beside SQL: a lookup and a password change.

Both backends hold the demo directory: SQL in a migrated SQLite file (the embedded
default), LDAP in Debian's slapd on loopback with the ppolicy overlay, started for the
run (``tests/ldap_server.py``). Measured through ``core.directory``:

- lookup: ``find_target`` by account name with the owner's ID-number hash (the reset
  flow's query), and ``find_student_ids`` (LDAP: the synced local index);
- change: ``change_password`` with the current password (SQL: argon2id verify, history
  check and hash at the production parameters; LDAP: a bind as the user and the
  Password Modify operation, slapd hashing with {SSHA} under ppolicy).

``python -m bench.ldap [rounds]`` prints the table.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from core import migrate
from core.clock import SystemClock
from core.db import create_engine, session_factory
from core.demo_data import seed_demo
from core.directory import Directory
from core.directory.ldap import LdapDirectory
from core.directory.sql import SqlDirectory
from core.directory.sync import IndexedStudents, sync
from core.passwords import PasswordHasher
from core.pii import PiiHasher
from core.profiles import load_profile
from tests.ldap_server import DEMO_PASSWORD, SERVICE_PASSWORD, build, ldap_profile

LIN = ("211303001", "A128573490", dt.date(2001, 3, 14), "master")


def _ms(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


async def _timed(rounds: int, step: Callable[[int], Awaitable[Any]]) -> dict[str, float]:
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        await step(i)
        times.append(time.perf_counter() - start)
    return {"p50_ms": _ms(times, 0.5), "p99_ms": _ms(times, 0.99)}


async def _lookups(directory: Directory, pii: PiiHasher, rounds: int) -> dict[str, Any]:
    name, number, birthday, level = LIN

    async def target(_: int) -> None:
        found = await directory.find_target(name, id_number_hash=pii.id_number(number))
        assert found is not None

    async def student_ids(_: int) -> None:
        found = await directory.find_student_ids(
            id_number_hash=pii.id_number(number),
            birthday_hash=pii.birthday(birthday),
            degree_level=level,
        )
        assert found == [name]

    return {
        "find_target": await _timed(rounds, target),
        "find_student_ids": await _timed(rounds, student_ids),
    }


async def _changes(directory: Directory, name: str, rounds: int) -> dict[str, float]:
    account = await directory.find_target(name, id_number_hash=None)
    assert account is not None
    current = [DEMO_PASSWORD]

    async def change(i: int) -> None:
        new = f"Bench-{i:04d}-Harbour!"
        await directory.change_password(account, current[0], new)
        current[0] = new

    return await _timed(rounds, change)


async def measure(rounds: int = 200, change_rounds: int = 20) -> dict[str, Any]:
    pii = PiiHasher(b"bench-secret-key-for-keyed-hashes")
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await asyncio.to_thread(migrate.upgrade, url)  # Alembic runs its own event loop
        engine = create_engine(url)
        sessions = session_factory(engine)
        # The production argon2id parameters: what a change costs on the SQL backend.
        hasher = PasswordHasher(3, 65536, 4)
        profile = load_profile("demo")
        async with sessions() as session:
            await seed_demo(
                session,
                profile=profile,
                pii=pii,
                password_hash=hasher.hash_sync(DEMO_PASSWORD),
                now=dt.datetime.now(dt.UTC),
            )
            await session.commit()
            sql = SqlDirectory(session, profile=profile, hasher=hasher, clock=SystemClock())
            result["sql"] = await _lookups(sql, pii, rounds)
            result["sql"]["change_password"] = await _changes(sql, "211303001", change_rounds)
            await session.rollback()

        server = build(Path(folder) / "slapd", ldap_profile())
        server.start()
        try:
            directory = ldap_profile().directory.model_copy(
                update={"uris": [server.uri], "start_tls": False, "ca_file": None}
            )
            ldap = LdapDirectory(
                ldap_profile().model_copy(update={"directory": directory}),
                pii=pii,
                bind_password=SERVICE_PASSWORD,
                index=IndexedStudents(sessions),
            )
            await sync(sessions, ldap, pii, now=dt.datetime.now(dt.UTC))
            result["ldap"] = await _lookups(ldap, pii, rounds)
            result["ldap"]["change_password"] = await _changes(ldap, "spare00", change_rounds)
            await ldap.close()
        finally:
            server.stop()
            await engine.dispose()
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        "| operation | SQL p50 ms | SQL p99 ms | LDAP p50 ms | LDAP p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for operation in ("find_target", "find_student_ids", "change_password"):
        sql, ldap = result["sql"][operation], result["ldap"][operation]
        lines.append(
            f"| {operation} | {sql['p50_ms']} | {sql['p99_ms']} | {ldap['p50_ms']} |"
            f" {ldap['p99_ms']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(table(asyncio.run(measure(rounds))))
