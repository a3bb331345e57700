"""argon2id hashing: OWASP floor, rehash on verify, in a pool of processes."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from argon2 import extract_parameters

from core.password_policy import Violation
from core.passwords import (
    PasswordHasher,
    check_policy,
    pool_size,
    rate,
    run_in_pool,
    shutdown_pool,
)
from core.profiles import load_profile

WEAK = PasswordHasher(time_cost=2, memory_kib=19456, parallelism=1)
STRONGER = PasswordHasher(time_cost=3, memory_kib=19456, parallelism=1)


def test_hashes_are_argon2id_with_the_configured_parameters() -> None:
    stored = WEAK.hash_sync("correct horse")
    params = extract_parameters(stored)
    assert stored.startswith("$argon2id$")
    assert (params.time_cost, params.memory_cost, params.parallelism) == (2, 19456, 1)


async def test_a_successful_verify_rehashes_when_the_parameters_changed() -> None:
    old = WEAK.hash_sync("correct horse")
    ok, new = await STRONGER.verify_and_update(old, "correct horse")
    assert ok and new is not None and extract_parameters(new).time_cost == 3
    assert STRONGER.verify_sync(new, "correct horse")
    assert await STRONGER.verify_and_update(new, "correct horse") == (True, None)
    assert await STRONGER.verify_and_update(old, "wrong") == (False, None)


async def test_hashing_runs_off_the_event_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(STRONGER.hash("x") for _ in range(4)))
    task.cancel()
    # Had hashing blocked the loop, the ticker could not have run meanwhile.
    assert ticks >= 3


async def test_hashing_runs_in_other_processes_at_a_lower_priority() -> None:
    assert await run_in_pool(os.getpid) != os.getpid()
    assert await run_in_pool(os.nice, 0) > os.nice(0)


async def test_a_password_from_the_history_is_found_among_many_hashes() -> None:
    history = [WEAK.hash_sync(f"old password {n}") for n in range(4)]
    assert await WEAK.matches_any(history, "old password 2")
    assert not await WEAK.matches_any(history, "a new password")
    assert not await WEAK.matches_any([], "anything")


async def test_a_hashing_process_killed_is_replaced_and_the_hash_still_made() -> None:
    await WEAK.hash("warm up")
    for pid in {await run_in_pool(os.getpid) for _ in range(pool_size())}:
        os.kill(pid, signal.SIGKILL)
    stored = await WEAK.hash("correct horse")
    assert WEAK.verify_sync(stored, "correct horse")


async def test_the_pool_starts_again_after_it_was_shut_down() -> None:
    await WEAK.hash("before")
    shutdown_pool()
    assert await WEAK.verify(await WEAK.hash("after"), "after")


async def test_the_policy_check_and_the_strength_meter_answer_from_the_pool() -> None:
    policy = load_profile("demo").password_policy
    assert policy.zxcvbn_min_score > 0
    weak = await check_policy(policy, "alice1", personal=["alice"])
    assert Violation.TOO_SHORT in {r.code for r in weak}
    assert await check_policy(policy, "Tram-Violet-Harbour-1987!", personal=["alice"]) == []
    assert await rate("password") == 0
    assert await rate("tram-violet-harbour-1987") >= 3


OWNER_SCRIPT = """
import asyncio, os, time
from core.passwords import run_in_pool

async def main():
    print(await run_in_pool(os.getpid), flush=True)
    time.sleep(120)

if __name__ == "__main__":
    asyncio.run(main())
"""


def test_the_pool_s_workers_leave_when_their_process_is_killed(tmp_path: Path) -> None:
    """A SIGKILLed owner leaves no worker behind holding its stdout open."""
    script = tmp_path / "owner.py"
    script.write_text(OWNER_SCRIPT)
    root = Path(__file__).resolve().parents[2]
    owner = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert owner.stdout is not None
    worker = int(owner.stdout.readline())
    owner.kill()
    owner.wait(timeout=10)
    # EOF on the pipe means no process (worker or forkserver) holds it any more.
    deadline = time.monotonic() + 15
    eof = False
    while not eof and time.monotonic() < deadline:
        readable, _, _ = select.select([owner.stdout], [], [], 0.2)
        eof = bool(readable) and os.read(owner.stdout.fileno(), 4096) == b""
    owner.stdout.close()
    assert eof, "a pool process outlived its owner and still holds its stdout"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{worker}").exists():
        time.sleep(0.1)
    assert not Path(f"/proc/{worker}").exists()
