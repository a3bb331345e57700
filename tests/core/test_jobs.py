"""The job queue's parts of our own (core/jobs.py): the embedded queue, sealing, the URL."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import InvalidToken
from procrastinate import App
from procrastinate.exceptions import ConnectorException
from procrastinate.jobs import Status

from core.jobs import EmbeddedConnector, JobQueue, Sealer, conninfo, cron_every
from core.settings import Settings
from tests.live import free_port


async def _queue_with_a_task() -> tuple[App, EmbeddedConnector]:
    connector = EmbeddedConnector()
    app = App(connector=connector)

    @app.task(name="note")
    async def note(n: int) -> None:
        return None

    await app.open_async()
    return app, connector


async def test_a_job_waiting_for_its_retry_keeps_later_jobs_with_its_lock_behind_it() -> None:
    app, _ = await _queue_with_a_task()
    note = app.tasks["note"]
    await note.configure(lock="chat-a", schedule_in={"seconds": 60}).defer_async(n=1)
    await note.configure(lock="chat-a").defer_async(n=2)
    await note.configure(lock="chat-b").defer_async(n=3)
    worker = await app.job_manager.register_worker()

    job = await app.job_manager.fetch_job(None, worker)
    assert job is not None and job.task_kwargs == {"n": 3}
    # chat-a's second message waits for its first, whose retry is not due yet.
    assert await app.job_manager.fetch_job(None, worker) is None


async def test_one_job_per_lock_runs_at_a_time_in_the_order_queued() -> None:
    app, _ = await _queue_with_a_task()
    note = app.tasks["note"]
    for n in (1, 2):
        await note.configure(lock="chat-a").defer_async(n=n)
    worker = await app.job_manager.register_worker()

    first = await app.job_manager.fetch_job(None, worker)
    assert first is not None and first.task_kwargs == {"n": 1}
    assert await app.job_manager.fetch_job(None, worker) is None
    await app.job_manager.finish_job(first, status=Status.SUCCEEDED, delete_job=True)
    second = await app.job_manager.fetch_job(None, worker)
    assert second is not None and second.task_kwargs == {"n": 2}


async def test_the_embedded_queue_forgets_finished_jobs_and_logs_no_query() -> None:
    app, connector = await _queue_with_a_task()
    await app.tasks["note"].defer_async(n=1)
    worker = await app.job_manager.register_worker()
    job = await app.job_manager.fetch_job(None, worker)
    assert job is not None and job.id is not None
    await app.job_manager.finish_job(job, status=Status.SUCCEEDED, delete_job=True)
    assert connector.jobs == {} and job.id not in connector.events
    assert connector.queries == []


def _settings(tmp_path: Path, secret: str) -> Settings:
    return Settings(home=tmp_path, secret_key=secret)


def test_sealed_arguments_open_with_the_same_secret_only(tmp_path: Path) -> None:
    body = {"event": {"text": "F131104093 85/01/02"}}
    sealed = Sealer(_settings(tmp_path, "a" * 40)).seal(body)
    assert "F131104093" not in sealed and "85/01/02" not in sealed
    assert Sealer(_settings(tmp_path, "a" * 40)).open(sealed) == body
    with pytest.raises(InvalidToken):
        Sealer(_settings(tmp_path, "b" * 40)).open(sealed)


def test_the_queue_connects_with_libpq_s_spelling_of_the_app_s_url() -> None:
    url = "postgresql+asyncpg://helpdesk:p%40ss@db.example:5433/helpdesk?ssl=require"
    assert conninfo(url) == "postgresql://helpdesk:p%40ss@db.example:5433/helpdesk?sslmode=require"


def test_on_sqlite_the_queue_is_in_memory_and_runs_its_worker_whatever_the_setting(
    tmp_path: Path,
) -> None:
    queue = JobQueue(_settings(tmp_path, "a" * 40).model_copy(update={"job_worker": "separate"}))
    assert isinstance(queue.app.connector, EmbeddedConnector)
    assert queue.runs_worker


def test_on_postgresql_a_separate_worker_leaves_serving_processes_to_queue(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, "a" * 40).model_copy(
        update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1/x"}
    )
    assert JobQueue(settings).runs_worker
    assert not JobQueue(settings.model_copy(update={"job_worker": "separate"})).runs_worker


async def test_a_database_that_is_down_does_not_stop_the_start_and_queuing_fails_soon(
    tmp_path: Path,
) -> None:
    down = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/helpdesk"  # nothing listens
    settings = _settings(tmp_path, "a" * 40).model_copy(
        update={"database_url": down, "job_worker": "separate"}
    )
    queue = JobQueue(settings)

    @queue.app.task(name="note")
    async def note(n: int) -> None:
        return None

    async with asyncio.timeout(15):
        await queue.start()  # returns: the pool connects in the background
        with pytest.raises(ConnectorException):
            await queue.defer(note, n=1)  # within Slack's 3 seconds: it sends the event again
        await queue.stop()


class _CountingConnector(EmbeddedConnector):
    """The embedded queue, noting how many jobs each insert statement carried."""

    def __init__(self) -> None:
        super().__init__()
        self.inserts: list[int] = []

    async def defer_jobs_all(self, jobs: list[Any]) -> list[dict[str, Any]]:
        self.inserts.append(len(jobs))
        return await super().defer_jobs_all(jobs)


async def test_jobs_queued_at_once_go_in_one_insert_and_a_waiting_queueing_lock_refuses_one(
    tmp_path: Path,
) -> None:
    queue = JobQueue(_settings(tmp_path, "a" * 40))
    connector = _CountingConnector()
    queue.app.connector = queue.app.job_manager.connector = connector

    @queue.app.task(name="note")
    async def note(n: int) -> None:
        return None

    await queue.app.open_async()
    first = await asyncio.gather(*(queue.defer(note, lock="chat-a", n=n) for n in range(10)))
    assert first == [True] * 10 and connector.inserts == [10]
    # A retry of a job still waiting (its queueing lock) is refused; the others go in.
    again = await asyncio.gather(
        queue.defer(note, queueing_lock="event-1", n=10),
        queue.defer(note, queueing_lock="event-1", n=10),
        queue.defer(note, queueing_lock="event-2", n=11),
    )
    assert again == [True, False, True]
    kept = sorted(connector.jobs.values(), key=lambda job: job["id"])
    assert [job["args"]["n"] for job in kept] == [*range(10), 10, 11]  # in the order queued


def test_a_round_s_interval_is_a_cron_line_in_whole_seconds_minutes_or_hours() -> None:
    assert cron_every(1) == "* * * * * */1"  # procrastinate's sixth field: seconds
    assert cron_every(2) == "* * * * * */2"
    assert cron_every(0.2) == "* * * * * */1"  # a second is the finest step
    assert cron_every(600) == "*/10 * * * *"
    assert cron_every(3600) == "0 */1 * * *"


def test_a_worker_takes_only_the_queues_of_the_rounds_its_process_scheduled(
    settings: Settings,
) -> None:
    async def nothing() -> None:
        return None

    scheduling, other = JobQueue(settings), JobQueue(settings)
    scheduling.every(2, "mail.send", nothing)
    assert "mail.send" in scheduling.queues and "default" in scheduling.queues
    assert "mail.send" not in other.queues  # it never fetches a mail round it cannot run
    scheduling.every(2, "mail.send", nothing)  # scheduling again replaces it
    assert list(scheduling.app.periodic_registry.periodic_tasks) == [
        ("jobs.requeue_stalled", ""),
        ("mail.send", "mail.send"),
    ]


async def test_with_two_workers_on_postgresql_each_tick_of_a_round_runs_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    if not settings.sqlalchemy_url.startswith("postgresql"):
        pytest.skip("two workers share PostgreSQL's queue")
    caplog.set_level(logging.DEBUG, logger="core.jobs")
    ran: list[int] = []
    queues = [JobQueue(settings) for _ in range(2)]
    for n, queue in enumerate(queues):

        async def tick(n: int = n) -> None:
            ran.append(n)

        queue.every(1, "probe.tick", tick)
        await queue.start()
    try:
        async with asyncio.timeout(60):
            while len(ran) < 6:  # noqa: ASYNC110 (rounds counted as they run)
                await asyncio.sleep(0.05)
    finally:
        for queue in queues:
            await queue.stop()
    ticks = [
        record.getMessage().split()[4]
        for record in caplog.records
        if record.getMessage().startswith("probe.tick: the round of")
    ]
    # Both workers' deferrers offered every tick; each ran once, in one of them.
    assert len(ticks) == len(ran) and len(set(ticks)) == len(ticks), ticks
