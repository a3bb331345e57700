"""Slack's work after the ack runs on the job queue (core/jobs.py, issue 19 §2).

A signed event is queued and acknowledged; a job worker runs the turn and replies. On
the embedded SQLite default the worker is a task of the serving process; on PostgreSQL
it is any ``helpdesk worker`` process: one killed in the middle of a job leaves it to
the next, and one chat's events are answered in the order they came with two workers.
The Web API is the stand-in (tests/slack_stub.py); ``Gate`` in front of it holds
``users.info``, the job's first call, to show where a job is.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.adapters.slack import AFTER_ACK_TASK, SlackAdapter
from bot.engine import Engine
from bot.services import Services, build_services
from bot.web import create_app
from core.jobs import SCHEMA, EmbeddedConnector
from core.settings import Settings
from tests.factories import LIN_ID_NUMBER, LIN_STUDENT_ID, add_lin
from tests.job_workers import empty_queue, worker_process
from tests.live import serving
from tests.slack_stub import WebApiStub, event_callback, signed_headers

pytest_plugins = ["tests.slack_fixtures"]

SIGNING_SECRET = "slack-signing-secret-queue-0123456789"
BOT_TOKEN = "xoxb-test-token"
USER, DM = "U0QUEUE", "D0QUEUE"
STALLED_SECONDS = 2.0  # the workers' heartbeat timeout here (30 s by default)
_ids = itertools.count(1)


class Gate:
    """The Web API stand-in behind a gate that holds each ``users.info`` until opened."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.opened = asyncio.Event()
        self.held = asyncio.Event()  # a users.info call is waiting at the gate
        self.app = Starlette(routes=[Route("/{method}", self._pass, methods=["GET", "POST"])])

    async def _pass(self, request: Request) -> Response:
        method = request.path_params["method"]
        if method == "users.info":
            self.held.set()
            await self.opened.wait()
        headers = {
            name: request.headers[name]
            for name in ("authorization", "content-type")
            if name in request.headers
        }
        async with httpx.AsyncClient() as client:
            answer = await client.request(
                request.method,
                f"{self.upstream}{method}",
                params=request.query_params,
                content=await request.body(),
                headers=headers,
            )
        kind = answer.headers.get("content-type", "application/json")
        return Response(answer.content, status_code=answer.status_code, media_type=kind)


def message(text: str, channel: str = DM) -> bytes:
    event_id = f"EvQueue{next(_ids):06d}"
    event = {
        "type": "message",
        "channel": channel,
        "channel_type": "im",
        "user": USER,
        "text": text,
        "ts": f"17100000{next(_ids):02d}.000100",
    }
    return json.dumps(event_callback(event, event_id)).encode()


async def post(client: httpx.AsyncClient, body: bytes) -> int:
    headers = {"Content-Type": "application/json", **signed_headers(SIGNING_SECRET, body)}
    return (await client.post("/slack/events", content=body, headers=headers)).status_code


def posted(stub: WebApiStub) -> list[str]:
    return [str(p.get("text")) for p in stub.calls_to("chat.postMessage")]


async def until(condition: Callable[[], bool], seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 (the stub records calls; no event to await)
            await asyncio.sleep(0.05)


def with_slack(settings: Settings, api_url: str, **extra: Any) -> Settings:
    return settings.model_copy(
        update={
            "slack_bot_token": SecretStr(BOT_TOKEN),
            "slack_signing_secret": SecretStr(SIGNING_SECRET),
            "slack_api_url": api_url,
            **extra,
        }
    )


@contextlib.asynccontextmanager
async def slack_app(configured: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, SlackAdapter]]:
    """Our app with the Slack adapter started (its queue, and its worker if it runs one)."""
    services = build_services(configured)
    adapter = SlackAdapter.build(services, Engine(services))
    await adapter.startup()
    try:
        transport = httpx.ASGITransport(app=create_app(services, adapters=[adapter]))
        async with httpx.AsyncClient(transport=transport, base_url="http://ours") as client:
            yield client, adapter
    finally:
        await adapter.shutdown()
        await services.close()


# -- the embedded default: the worker is a task of the serving process ----------------------


@pytest.fixture
def sqlite_settings(settings: Settings) -> Settings:
    if settings.sqlalchemy_url.startswith("postgresql"):
        pytest.skip("the in-process queue of the embedded SQLite default")
    return settings


@contextlib.asynccontextmanager
async def first_job_held(
    settings: Settings, slack_api: WebApiStub
) -> AsyncIterator[tuple[httpx.AsyncClient, SlackAdapter, Gate]]:
    """The app on the embedded queue, the job of a first "menu" held at ``users.info``."""
    gate = Gate(slack_api.base_url)
    async with (
        serving(gate.app) as gate_url,
        slack_app(with_slack(settings, f"{gate_url}/")) as (client, adapter),
    ):
        assert isinstance(adapter.jobs.app.connector, EmbeddedConnector)
        assert await post(client, message("menu")) == 200
        async with asyncio.timeout(10):
            await gate.held.wait()
        yield client, adapter, gate


async def test_the_ack_comes_before_the_turn_and_the_reply_after_it(
    sqlite_settings: Settings, slack_api: WebApiStub
) -> None:
    async with first_job_held(sqlite_settings, slack_api) as (_client, _adapter, gate):
        # Acknowledged while the job is held at its first Web API call.
        assert posted(slack_api) == []
        gate.opened.set()
        await until(lambda: len(posted(slack_api)) == 2)
    assert "Demo University" in posted(slack_api)[0]
    assert posted(slack_api)[1] == "What can I help you with?"


async def test_slack_s_retry_of_an_event_still_queued_adds_no_job(
    sqlite_settings: Settings, slack_api: WebApiStub
) -> None:
    async with first_job_held(sqlite_settings, slack_api) as (client, adapter, gate):
        # The first event's job runs; the chat's next one waits.
        connector = adapter.jobs.app.connector
        assert isinstance(connector, EmbeddedConnector)
        second = message("help")
        assert [await post(client, second) for _ in range(3)] == [200, 200, 200]
        waiting = [job for job in connector.jobs.values() if job["status"] == "todo"]
        assert len(waiting) == 1
        # What the user typed is sealed in the queue.
        assert "help" not in json.dumps(waiting[0]["args"])
        gate.opened.set()
        await until(lambda: not connector.jobs)
    texts = posted(slack_api)
    assert len(texts) == 5 and texts.count("What can I help you with?") == 2, texts


# -- PostgreSQL: separate `helpdesk worker` processes ---------------------------------------


@pytest.fixture
def pg_settings(settings: Settings) -> Iterator[Settings]:
    """PostgreSQL settings whose web side only queues; the queue emptied before and after."""
    if not settings.sqlalchemy_url.startswith("postgresql"):
        pytest.skip("separate job workers share PostgreSQL's queue")
    asyncio.run(empty_queue(settings.sqlalchemy_url))
    yield settings.model_copy(update={"job_worker": "separate"})
    asyncio.run(empty_queue(settings.sqlalchemy_url))


async def _queued(services: Services) -> int:
    async with services.engine.connect() as connection:
        count = await connection.scalar(
            text(f"SELECT count(*) FROM {SCHEMA}.procrastinate_jobs WHERE task_name = :task"),
            {"task": AFTER_ACK_TASK},
        )
    return int(count or 0)


def slack_worker(
    settings: Settings, api_url: str, log: IO[bytes]
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """A real ``helpdesk worker`` on the test database, its Web API at ``api_url``."""
    slack = {
        "HELPDESK_SLACK_BOT_TOKEN": BOT_TOKEN,
        "HELPDESK_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "HELPDESK_SLACK_API_URL": api_url,
        "HELPDESK_JOB_STALLED_SECONDS": str(STALLED_SECONDS),
    }
    return worker_process(settings, slack, log)


async def test_a_job_whose_worker_is_killed_is_finished_by_another_and_answered_once(
    pg_settings: Settings, services: Services, slack_api: WebApiStub, tmp_path: Path
) -> None:
    gate = Gate(slack_api.base_url)
    with (tmp_path / "workers.log").open("wb") as log:
        async with (
            serving(gate.app) as gate_url,
            slack_app(with_slack(pg_settings, slack_api.base_url)) as (client, _adapter),
        ):
            assert await post(client, message("menu")) == 200
            with slack_worker(pg_settings, f"{gate_url}/", log) as first:
                # The first worker took the job and is inside it, at users.info.
                async with asyncio.timeout(60):
                    await gate.held.wait()
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
            gate.opened.set()  # lets the dead worker's request end, so the gate can stop
            assert posted(slack_api) == [] and await _queued(services) == 1
            with slack_worker(pg_settings, slack_api.base_url, log):
                await until(lambda: len(posted(slack_api)) >= 2, seconds=60)
                # Done when the job's row is gone (deleted once it ran to the end).
                async with asyncio.timeout(30):
                    while await _queued(services):  # noqa: ASYNC110 (a row, not an event)
                        await asyncio.sleep(0.1)
    texts = posted(slack_api)
    assert sum("Demo University" in t for t in texts) == 1, texts
    assert texts[1:] == ["What can I help you with?"]


async def test_one_chat_s_five_events_are_answered_in_order_by_two_workers(
    pg_settings: Settings, services: Services, slack_api: WebApiStub, tmp_path: Path
) -> None:
    await add_lin(services)
    steps = ["menu", "Look up my student ID", "Master's programme", LIN_ID_NUMBER, "85/01/02"]
    with (tmp_path / "workers.log").open("wb") as log:
        async with slack_app(with_slack(pg_settings, slack_api.base_url)) as (client, _adapter):
            with (
                slack_worker(pg_settings, slack_api.base_url, log),
                slack_worker(pg_settings, slack_api.base_url, log),
            ):
                # Queued at once: the two workers take them as they come, this chat's
                # one at a time.
                assert [await post(client, message(step)) for step in steps] == [200] * 5
                answer = f"Your student ID is {LIN_STUDENT_ID}."
                await until(lambda: any(answer in t for t in posted(slack_api)), seconds=90)
    texts = posted(slack_api)
    # Each step answered the one before it: taken out of order, the lookup goes elsewhere.
    assert "Demo University" in texts[0] and texts[1] == "What can I help you with?"
    assert "programme" in texts[2]
    assert "ID number" in texts[3]
    assert "birth" in texts[4]
    assert answer in texts[5]
