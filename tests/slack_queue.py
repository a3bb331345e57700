"""Waiting for Slack's work after the ack, which the job queue's worker runs."""

from __future__ import annotations

import asyncio

from bot.adapters.slack import AFTER_ACK_TASK
from core.jobs import JobQueue


async def after_ack_done(jobs: JobQueue) -> None:
    """Until no work after a Slack ack waits or runs (a finished job is deleted).

    A request queues its work before the ack, so the job is there when the response is.
    """
    manager = jobs.app.job_manager
    async with asyncio.timeout(10):
        while True:
            pending = [
                job
                for status in ("todo", "doing")
                for job in await manager.list_jobs_async(task=AFTER_ACK_TASK, status=status)
            ]
            if not pending:
                return
            await asyncio.sleep(0.02)
