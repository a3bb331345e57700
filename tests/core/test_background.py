"""core.background.run_every: errors are logged and backed off, never swallowed."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from core.background import run_every


async def test_a_failing_job_is_logged_backed_off_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[float] = []
    six_calls = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def work() -> None:
        calls.append(loop.time())
        if len(calls) >= 6:
            six_calls.set()
        if len(calls) <= 3:
            raise ConnectionRefusedError("smtp down")

    caplog.set_level(logging.INFO, logger="core.background")
    task = asyncio.create_task(run_every(0.01, work, name="mail queue", max_backoff=0.05))
    await asyncio.wait_for(six_calls.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == "mail queue failed; retrying with backoff"
    assert caplog.records[0].exc_info is not None
    assert "mail queue failed again (2 in a row): ConnectionRefusedError" in messages
    assert "mail queue recovered after 3 failure(s)" in messages
    # Backoff: the waits after failures grow (0.02, 0.04, then capped at 0.05).
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[2] > gaps[0]


async def test_cancelling_stops_the_loop_at_once() -> None:
    started = asyncio.Event()

    async def work() -> None:
        started.set()

    task = asyncio.create_task(run_every(3600, work, name="idle"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_stop_in_the_middle_of_a_round_lets_the_round_finish() -> None:
    # A mail round cut between sending and recording would send the mail again.
    in_round, may_finish = asyncio.Event(), asyncio.Event()
    recorded: list[str] = []

    async def work() -> None:
        in_round.set()
        await may_finish.wait()
        recorded.append("sent and recorded")

    task = asyncio.create_task(run_every(3600, work, name="mail queue"))
    await in_round.wait()
    task.cancel()
    await asyncio.sleep(0)
    assert not task.done()  # still finishing its round
    may_finish.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorded == ["sent and recorded"]


async def test_a_round_that_does_not_finish_within_the_grace_is_cut() -> None:
    in_round = asyncio.Event()

    async def work() -> None:
        in_round.set()
        await asyncio.Event().wait()  # never finishes

    task = asyncio.create_task(run_every(3600, work, name="stuck", grace=0.05))
    await in_round.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=10)
