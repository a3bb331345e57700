"""The job queue: work a webhook queues before it answers, and the workers that run it.

procrastinate over PostgreSQL: jobs are rows in the ``procrastinate`` schema (migration
0014), workers are woken by LISTEN/NOTIFY, a failed job is retried with backoff
(``RETRY``), jobs that share a ``lock`` run one at a time in the order they were queued
(one chat's messages), and the jobs of a worker that stopped answering (no heartbeat for
``job_stalled_seconds``: killed, its machine gone) are queued again by a periodic job that
runs once across all workers. On the embedded SQLite default there is one process: the
queue is kept in memory and its worker is a task of that process, so ``make run`` needs
nothing else; jobs queued there end with the process, as everything else of it does.

A job's arguments are sealed (Fernet, with a key derived from the secret key): what a
user typed stays out of the queue's rows, and out of procrastinate's log lines, which
name each job with its arguments.

Queuing is one statement in autocommit, committed asynchronously (``synchronous_commit
= off`` on the queue's connections): it returns once PostgreSQL holds the job, without
waiting for its WAL to reach the disk, which is most of an acknowledgement's time
otherwise. A crash of any of our processes loses nothing; a crash of the database server
itself may lose the jobs of its last moments (up to three ``wal_writer_delay``, 0.6 s by
default). The engine's own transactions keep synchronous commits.

Background rounds (the mail queue, retention, the directory index, each platform's
notices and card refreshes) are periodic jobs (``JobQueue.every``): every worker's
deferrer offers each round at its time and the database takes it once, so with several
workers a round runs once, in whichever worker fetches it. A round's jobs share a lock
(one at a time) and a queueing lock (a round that waits, or waits for its retry, keeps
the next from piling up), and a failed round is retried with ``RETRY``'s backoff. Each
kind of job has a queue of its own and a worker takes only the queues whose tasks its
process registered, so a process that does not run a round never fetches it.

Upgrading procrastinate past the version pinned in pyproject.toml needs a migration that
applies its own schema migrations (its ``sql/migrations`` folder) to this schema.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import psycopg
import psycopg_pool
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from procrastinate import App, PsycopgConnector, RetryStrategy
from procrastinate import exceptions as queue_errors
from procrastinate.job_context import JobContext
from procrastinate.jobs import DEFAULT_QUEUE, Job, Status
from procrastinate.tasks import Task
from procrastinate.testing import InMemoryConnector
from procrastinate.types import JSONValue
from procrastinate.utils import utcnow
from sqlalchemy.engine import make_url

from core.settings import Settings

SCHEMA = "procrastinate"  # the PostgreSQL schema of the queue's tables and functions
# procrastinate notifies workers of new jobs, not of a lock set free: a job that waited
# for its lock (the chat's previous message) is looked for again this soon after.
POLL_SECONDS = 0.2
STOP_SECONDS = 10.0  # a stopping worker waits this long for its running jobs, then requeues them
RESTART_SECONDS = 2.0  # a worker that lost its database starts again after this
# A failing job runs again after 2, 4, 8, 16 and 32 seconds, then is given up (and logged).
RETRY = RetryStrategy(max_attempts=5, exponential_wait=2)
REQUEUE_TASK = "jobs.requeue_stalled"
MIN_CONNECTIONS = 4  # kept open by each process's queue, PostgreSQL's
# How long queuing waits for a connection (the database down: it fails, twice at most,
# well within Slack's 3 seconds, and the event comes again).
CONNECTION_WAIT_SECONDS = 1.0

log = logging.getLogger(__name__)


def exc_name(exc: BaseException) -> str:
    """An exception's class, for a log line (its message may quote what a user typed)."""
    return type(exc).__name__


def is_durable(settings: Settings) -> bool:
    """Whether the queue is PostgreSQL's (shared by processes) rather than in memory."""
    return settings.sqlalchemy_url.startswith("postgresql")


async def _autocommit(connection: psycopg.AsyncConnection[Any]) -> None:
    """Each of procrastinate's queries is one statement: no BEGIN and COMMIT around it."""
    await connection.set_autocommit(True)


def _pool(settings: Settings) -> psycopg_pool.AsyncConnectionPool[Any]:
    """The queue's connections, unopened.

    Without procrastinate's check, a round trip before every checkout: like the app's
    engine (no pre-ping), a connection the server dropped fails its query, the pool
    discards it, and the caller tries again (``JobQueue.defer``).
    """
    return psycopg_pool.AsyncConnectionPool(
        conninfo(settings.sqlalchemy_url),
        min_size=MIN_CONNECTIONS,
        # The running jobs, the heartbeat and the fetches (the listener has its own).
        max_size=settings.job_concurrency + MIN_CONNECTIONS,
        kwargs={"options": f"-c search_path={SCHEMA} -c synchronous_commit=off"},
        configure=_autocommit,
        check=None,
        timeout=CONNECTION_WAIT_SECONDS,
        open=False,
    )


def conninfo(url: str) -> str:
    """libpq's URL for the app's PostgreSQL URL (driver name and asyncpg's ``ssl``)."""
    parsed = make_url(url).set(drivername="postgresql")
    query = dict(parsed.query)
    if "ssl" in query and "sslmode" not in query:
        query["sslmode"] = query.pop("ssl")
    return parsed.set(query=query).render_as_string(hide_password=False)


class EmbeddedConnector(InMemoryConnector):
    """procrastinate's in-memory queue, fit for one long-running process.

    The testing connector it derives from keeps a log of every query and the events of
    deleted jobs, both without end; this one keeps neither. And like PostgreSQL's queue
    it runs no job while an earlier one with the same lock waits, so a retry's backoff
    keeps the chat's later messages behind it.
    """

    async def generic_execute(self, query: str, suffix: str, **arguments: Any) -> Any:
        return await getattr(self, f"{self.reverse_queries[query]}_{suffix}")(**arguments)

    async def finish_job_run(self, job_id: int, status: str, delete_job: bool) -> None:
        await super().finish_job_run(job_id, status, delete_job)
        if delete_job:
            self.events.pop(job_id, None)

    async def fetch_job_one(self, queues: Iterable[str] | None, worker_id: int) -> dict[str, Any]:
        now = utcnow()
        held = {job["lock"] for job in self.jobs.values() if job["status"] == "doing"}
        waiting = sorted(
            (job for job in self.jobs.values() if job["status"] == "todo"),
            key=lambda job: (-job["priority"], job["id"]),
        )
        for job in waiting:
            lock = job["lock"]
            if lock is not None:
                if lock in held:
                    continue
                held.add(lock)  # later jobs with this lock wait for this one
            if queues is not None and job["queue_name"] not in queues:
                continue
            if job["scheduled_at"] is not None and job["scheduled_at"] > now:
                continue
            job["status"], job["worker_id"] = "doing", worker_id
            self.events[job["id"]].append({"type": "started", "at": now})
            return job
        return {"id": None}


class Sealer:
    """Seals a job's arguments for the queue and opens them in the worker."""

    def __init__(self, settings: Settings) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"job-arguments").derive(
            settings.pii_key
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        value = json.loads(self._fernet.decrypt(token.encode()))
        if not isinstance(value, dict):
            raise ValueError("a sealed job argument is an object")
        return value


def cron_every(seconds: float) -> str:
    """A cron line (with procrastinate's sixth field, seconds) for a round every ``seconds``.

    Whole seconds, at least one (procrastinate's finest step); a step that does not
    divide its minute or hour evenly runs a little early at the turn of it.
    """
    step = max(1, round(seconds))
    if step < 60:
        return f"* * * * * */{step}"
    if step < 3600:
        return f"*/{max(1, step // 60)} * * * *"
    if step < 86400:
        return f"0 */{max(1, step // 3600)} * * *"
    return f"0 0 */{max(1, step // 86400)} * *"


def _add_requeue(app: App, stalled_seconds: float) -> None:
    """The periodic job that queues again what a worker took and never finished."""
    every = max(1, min(59, round(stalled_seconds / 3)))

    @app.periodic(cron=f"* * * * * */{every}")  # the sixth field is seconds
    @app.task(name=REQUEUE_TASK, queueing_lock=REQUEUE_TASK)
    async def requeue_stalled(timestamp: int) -> None:
        manager = app.job_manager
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_seconds):
            try:
                if job.task_name == REQUEUE_TASK:
                    # Another round of this job: the next one does its work.
                    await manager.finish_job(job, status=Status.ABORTED, delete_job=True)
                    continue
                await manager.retry_job(job)
                log.warning("job %s of a worker that stopped answering is queued again", job.id)
            except queue_errors.ConnectorException:
                continue  # another round got to it first


class JobQueue:
    """One process's side of the queue: procrastinate's ``App``, and a worker if it runs one.

    ``start`` opens the queue (a PostgreSQL pool) and, unless ``job_worker`` is
    ``separate`` on PostgreSQL, runs a worker in this process until ``stop``, which waits
    up to ``STOP_SECONDS`` for the running jobs; those still running then are queued
    again. Register tasks on ``app`` before ``start``.
    """

    def __init__(self, settings: Settings) -> None:
        if settings.log_level.upper() != "DEBUG":
            # Three INFO lines a job (and each periodic round): left to DEBUG runs.
            logging.getLogger("procrastinate").setLevel(logging.WARNING)
        self.settings = settings
        self.durable = is_durable(settings)
        # The pool is ours (``start``); procrastinate's listener takes the connection
        # settings from it and ``configure`` from here.
        connector: PsycopgConnector | EmbeddedConnector = (
            PsycopgConnector(configure=_autocommit) if self.durable else EmbeddedConnector()
        )
        self.app = App(connector=connector)
        self.sealer = Sealer(settings)
        self._open = False
        self._pool: psycopg_pool.AsyncConnectionPool[Any] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._worker_queues: list[str] = []
        self._to_insert: list[tuple[Job, asyncio.Future[bool]]] = []
        self._inserting: asyncio.Task[None] | None = None
        _add_requeue(self.app, settings.job_stalled_seconds)

    def every(self, seconds: float, name: str, work: Callable[[], Awaitable[object]]) -> None:
        """Run ``work`` every ``seconds`` as a periodic job: once across all workers.

        ``name`` is the job's task, queue, lock and queueing lock: one round at a time,
        and none queued while one waits (or waits for its retry). A failed round is
        logged (its traceback at the first failure, a line for each retry), then
        retried with ``RETRY``'s backoff; the rounds due meanwhile are skipped.
        Registering ``name`` again replaces it (the process's newest owner runs it).
        Register before ``start``: a running worker takes only the queues it had.
        """
        if self._worker is not None and name not in self._worker_queues:
            raise RuntimeError(f"periodic job {name!r} registered after the worker started")
        self.app.tasks.pop(name, None)
        self.app.periodic_registry.periodic_tasks.pop((name, name), None)

        async def round_(context: JobContext, timestamp: int) -> None:
            attempt = context.job.attempts + 1
            log.debug("%s: the round of %d, attempt %d", name, timestamp, attempt)
            try:
                await work()
            except Exception as exc:
                if attempt == 1:
                    log.exception("%s failed; retrying with backoff", name)
                else:
                    log.warning("%s failed again (attempt %d): %s", name, attempt, exc_name(exc))
                raise
            if attempt > 1:
                log.info("%s recovered at attempt %d", name, attempt)

        task = self.app.task(
            name=name,
            queue=name,
            lock=name,
            queueing_lock=name,
            retry=RETRY,
            pass_context=True,
        )(round_)
        self.app.periodic(cron=cron_every(seconds), periodic_id=name)(task)

    def replace_task(
        self, name: str, func: Callable[..., Awaitable[Any]], *, retry: RetryStrategy
    ) -> Task[Any, Any, Any]:
        """Register ``func`` as the task ``name`` (replacing one of that name) and return it."""
        self.app.tasks.pop(name, None)
        task: Task[Any, Any, Any] = self.app.task(name=name, retry=retry)(func)
        return task

    @property
    def queues(self) -> list[str]:
        """The queues this process's worker takes: those of the tasks registered here."""
        return sorted({task.queue for task in self.app.tasks.values()} | {DEFAULT_QUEUE})

    @property
    def runs_worker(self) -> bool:
        """Whether this process runs queued jobs (always, when the queue is in memory)."""
        return not self.durable or self.settings.job_worker == "in_process"

    async def defer(
        self,
        task: Task[Any, Any, Any],
        *,
        lock: str | None = None,
        queueing_lock: str | None = None,
        **arguments: JSONValue,
    ) -> bool:
        """Queue a job of ``task``; False if one with its ``queueing_lock`` already waits.

        Jobs queued while an insert is on its way go together in the next one: one
        statement and one round trip for all of them (procrastinate's batch deferral), so
        at a high rate each costs PostgreSQL and this process a fraction of one alone.
        The order of one lock's jobs is kept: they are inserted in the order queued.
        """
        job = task.configure(lock=lock, queueing_lock=queueing_lock).make_new_job(**arguments)
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._to_insert.append((job, done))
        if self._inserting is None:
            self._inserting = asyncio.create_task(self._insert_queued(), name="job inserts")
        return await done

    async def _insert_queued(self) -> None:
        """Insert what ``defer`` gathered, batch after batch, until nothing is left."""
        try:
            while self._to_insert:
                batch, self._to_insert = self._to_insert, []
                try:
                    await self._insert([job for job, _ in batch])
                    outcomes: list[bool | BaseException] = [True] * len(batch)
                except queue_errors.AlreadyEnqueued:
                    # One of them (a platform's retry) waits already: each on its own.
                    outcomes = []
                    for job, _ in batch:
                        try:
                            outcomes.append(await self._insert([job]))
                        except queue_errors.AlreadyEnqueued:
                            outcomes.append(False)
                        except Exception as exc:
                            outcomes.append(exc)
                except Exception as exc:
                    outcomes = [exc] * len(batch)
                for (_, done), outcome in zip(batch, outcomes, strict=True):
                    if done.done():  # the request gave up waiting
                        continue
                    if isinstance(outcome, BaseException):
                        done.set_exception(outcome)
                    else:
                        done.set_result(outcome)
        finally:
            self._inserting = None

    async def _insert(self, jobs: list[Job]) -> bool:
        """Insert ``jobs`` in one statement.

        A pooled connection the server dropped (a restart) fails once and is replaced:
        the jobs go on a fresh one.
        """
        for attempt in (1, 2):
            try:
                await self.app.job_manager.batch_defer_jobs_async(jobs)
                return True
            except queue_errors.AlreadyEnqueued:
                raise
            except queue_errors.ConnectorException:
                if attempt == 2 or not self.durable:
                    raise
                log.info("stale job queue connection replaced")
        raise AssertionError("unreachable")

    async def start(self) -> None:
        """Open the queue and start this process's worker, if it runs one.

        The pool connects in the background: a database that is down does not stop the
        server from starting (``/healthz`` answers; queuing fails until it is back).
        """
        if not self._open:
            if self.durable:
                self._pool = _pool(self.settings)
                await self._pool.open(wait=False)
            await self.app.open_async(pool=self._pool)
            self._open = True
        if self.runs_worker and self._worker is None:
            self._worker_queues = self.queues
            self._worker = asyncio.create_task(self._work(), name="job worker")

    async def stop(self) -> None:
        if self._inserting is not None:
            await self._inserting  # what requests queued goes in before the pool closes
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        if self._open:
            self._open = False
            await self.app.close_async()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _work(self) -> None:
        """Run procrastinate's worker; start it again when it stops (the database went away)."""
        stalled = self.settings.job_stalled_seconds
        while True:
            try:
                await self.app.run_worker_async(
                    concurrency=self.settings.job_concurrency,
                    queues=self._worker_queues,
                    install_signal_handlers=False,  # the server's own handlers stop us
                    listen_notify=True,
                    fetch_job_polling_interval=POLL_SECONDS,
                    delete_jobs="always",  # a finished job's sealed arguments are of no use
                    update_heartbeat_interval=stalled / 3,
                    stalled_worker_timeout=stalled,
                    shutdown_graceful_timeout=STOP_SECONDS,
                )
                log.warning("the job worker stopped; starting it again")
            except Exception as exc:
                log.warning(
                    "the job worker failed (%s); starting it again in %.0f s",
                    type(exc).__name__,
                    RESTART_SECONDS,
                )
            await asyncio.sleep(RESTART_SECONDS)
