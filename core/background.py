"""Running a piece of background work again and again in this process, with its errors logged.

A served app's rounds (mail, notices, card refreshes, retention, ...) are periodic jobs
of the job queue (core/jobs.py), run once across workers. This loop is for what
belongs to one process alone: the console chat's rounds (``helpdesk chat`` and ``make
run``: its mail and its one chat's notices). A fault is never swallowed silently, and a
failing dependency (the database or SMTP server down) is retried with backoff instead
of being hammered every interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0
# How long a stop (the task cancelled at shutdown) waits for the round in progress.
ROUND_GRACE_SECONDS = 10.0


async def run_every(
    interval: float,
    work: Callable[[], Awaitable[object]],
    *,
    name: str,
    max_backoff: float = MAX_BACKOFF_SECONDS,
    grace: float = ROUND_GRACE_SECONDS,
) -> None:
    """Call ``work`` every ``interval`` seconds until cancelled.

    A failure is logged (with its traceback at the first failure in a row, a line
    after that) and the wait doubles, up to ``max_backoff``; the first success
    logs the recovery and goes back to ``interval``.

    Cancelled in the middle of a round (a worker stopping), the round is let finish
    for up to ``grace`` seconds before the cancellation goes on: a round cut short
    could have sent a mail without recording it, and would send it again.
    """
    failures = 0
    while True:
        round_ = asyncio.ensure_future(work())
        try:
            await asyncio.shield(round_)
        except asyncio.CancelledError:
            if not round_.done():
                log.info("%s: finishing the round in progress before stopping", name)
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(round_, grace)
            raise
        except Exception as exc:
            failures += 1
            if failures == 1:
                log.exception("%s failed; retrying with backoff", name)
            else:
                log.warning("%s failed again (%d in a row): %s", name, failures, type(exc).__name__)
        else:
            if failures:
                log.info("%s recovered after %d failure(s)", name, failures)
            failures = 0
        delay = interval if failures == 0 else min(max_backoff, interval * 2**failures)
        await asyncio.sleep(delay)
