"""argon2id hashing: OWASP floor, rehash on verify, off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import extract_parameters

from core.passwords import PasswordHasher

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
