"""A rolling restart of ``helpdesk serve --workers 2`` behind nginx, under a stream of updates.

Several Telegram chats keep sending updates through the deployed nginx site (each chat
its next update once the last was answered, as Telegram delivers one chat's updates in
order, and again after any answer that is not a success, as Telegram redelivers). In the
middle the supervisor gets SIGHUP, uvicorn's rolling restart: worker by worker, a new
process starts and, once it serves, the old one gets SIGTERM. A worker told to stop takes
no new request and finishes the turns it has started, so every update is answered
exactly as a worker that never stopped would answer it: none lost (a turn cut between
storing its step and sending its replies would never be answered, since the redelivery
is a duplicate), none doubled, and each chat's replies in order. The Bot API stand-in
answers every ``sendMessage`` a little late, so turns are in the middle of sending when
the signals arrive.

SIGTERM sent straight to a worker drains it the same way, but uvicorn's supervisor may
then take up to its health-check timeout (a minute here) to notice the exit and start a
replacement, if its ping was on the way when the worker exited; SIGHUP is the rolling
restart it offers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.test_nginx import (
    TELEGRAM_SECRET,
    _logs,
    _running_site,
    postgres,  # noqa: F401  (the fixture)
)
from tests.telegram_stub import BotApiStub

pytestmark = pytest.mark.slow

CHATS = 8
SEND_SECONDS = 0.1  # the stand-in's delay before answering each sendMessage
WORKER_SECONDS = 60  # for a worker to stop, or for its replacement to start serving
# Each chat goes round the student-ID lookup's first steps and back to the menu; what the
# bot answers to each text there (the start of each reply), in order.
ROUND = ("1", "2", "/menu")
REPLIES = {
    "/start": ("Hello! I am the account helpdesk", "What can I help you with?"),
    "1": ("Which degree programme were you admitted to?",),
    "2": ("Please type your national ID number",),
    "/menu": (
        "The previous conversation was stopped.",
        "Hello! I am the account helpdesk",
        "What can I help you with?",
    ),
}
STARTED = "Application startup complete."
FINISHED = "Finished server process [{pid}]"
DRAINING = "Waiting for connections to close."  # a request was in flight at SIGTERM
CUT = "timeout graceful shutdown exceeded"


class SlowBotApi(BotApiStub):
    """The Bot API stand-in, answering each ``sendMessage`` after ``SEND_SECONDS``."""

    async def _answer(self, method: dict[str, Any], params: dict[str, Any], bot: Any) -> Any:
        if method["name"] == "sendMessage":
            await asyncio.sleep(SEND_SECONDS)
        return await super()._answer(method, params, bot)


@dataclass
class Workers:
    public: httpx.AsyncClient  # Telegram's side: through nginx over HTTPS
    supervisor: subprocess.Popen[bytes]  # helpdesk serve --workers 2
    folder: Path

    def log(self) -> str:
        return (self.folder / "app.log").read_text(errors="replace")

    def pids(self) -> set[int]:
        """The worker processes uvicorn's supervisor has running now."""
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                command = (stat.parent / "cmdline").read_bytes()
            except OSError:
                continue  # gone meanwhile
            if (
                int(fields[1]) == self.supervisor.pid
                and fields[0] != "Z"
                and b"spawn_main" in command
            ):
                found.add(int(stat.parent.name))
        return found

    @contextlib.asynccontextmanager
    async def within(self, what: str) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(WORKER_SECONDS):
                yield
        except TimeoutError:
            raise AssertionError(f"waited in vain for {what}:\n{_logs(self.folder)}") from None

    async def stopped(self, pid: int) -> None:
        """Until ``pid`` has exited (reaped, or a zombie waiting for its supervisor)."""
        async with self.within(f"worker {pid} to stop"):
            while _running(pid):  # noqa: ASYNC110 (another process's exit: nothing to await)
                await asyncio.sleep(0.05)

    async def serving(self, count: int) -> None:
        """Until ``count`` workers in all have finished starting."""
        async with self.within(f"{count} workers in all to start"):
            while self.log().count(STARTED) < count:
                if self.supervisor.poll() is not None:
                    raise AssertionError(f"helpdesk serve exited:\n{_logs(self.folder)}")
                await asyncio.sleep(0.1)


def _running(pid: int) -> bool:
    """Whether ``pid`` is running (not gone, nor a zombie waiting for its parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
async def slow_bot_api() -> AsyncIterator[SlowBotApi]:
    async with SlowBotApi.running() as stub:
        yield stub
    assert stub.violations == [], "\n".join(stub.violations)


@pytest.fixture
async def workers(
    postgres: str,  # noqa: F811
    tmp_path: Path,
    slow_bot_api: SlowBotApi,
) -> AsyncIterator[Workers]:
    settings = {"HELPDESK_TELEGRAM_API_URL": slow_bot_api.base_url}
    with _running_site(postgres, tmp_path, settings) as site:
        public = site.public_client(WORKER_SECONDS)
        try:
            await site.until_ready(public)
            found = Workers(public, site.app, tmp_path)
            await found.serving(2)
            yield found
        finally:
            await public.aclose()


@dataclass
class Chat:
    """One Telegram chat's side: what it sent, in order, and how its deliveries went."""

    chat_id: int
    sent: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # answers that made Telegram redeliver


_update_ids = itertools.count(1)


def _update(chat_id: int, text: str) -> dict[str, Any]:
    person = {"id": chat_id, "is_bot": False, "first_name": "Ming", "language_code": "en"}
    return {
        "update_id": next(_update_ids),
        "message": {
            "message_id": next(_update_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Ming"},
            "from": person,
            "text": text,
        },
    }


async def _deliver(public: httpx.AsyncClient, chat: Chat, text: str) -> None:
    """POST one update as Telegram does: again, after a pause, until it is accepted."""
    update = _update(chat.chat_id, text)
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    for _ in range(50):
        try:
            answer = await public.post("/telegram/webhook", json=update, headers=headers)
            if answer.is_success:
                chat.sent.append(text)
                return
            chat.refused.append(str(answer.status_code))
        except httpx.TransportError as exc:
            chat.refused.append(type(exc).__name__)
        await asyncio.sleep(0.1)
    raise AssertionError(f"update {update['update_id']} was never accepted: {chat.refused}")


async def _talk(public: httpx.AsyncClient, chat: Chat, stop: asyncio.Event) -> None:
    await _deliver(public, chat, "/start")
    for text in itertools.cycle(ROUND):
        if stop.is_set():
            return
        await _deliver(public, chat, text)


def _received(stub: BotApiStub, chat_id: int) -> list[str]:
    return [
        str(call["text"]) for call in stub.calls_to("sendMessage") if call["chat_id"] == chat_id
    ]


def _difference(received: list[str], sent: list[str]) -> str | None:
    """Where a chat's replies part from those its updates call for, in order; None if nowhere."""
    expected = [start for text in sent for start in REPLIES[text]]
    for n, (reply, start) in enumerate(zip(received, expected, strict=False)):
        if not reply.startswith(start):
            return f"reply {n + 1} of {len(expected)} expected: {start!r}, got: {reply[:60]!r}"
    if len(received) != len(expected):
        return f"{len(expected)} replies expected, {len(received)} received"
    return None


async def test_a_rolling_restart_loses_and_doubles_no_update(
    workers: Workers, slow_bot_api: SlowBotApi
) -> None:
    chats = [Chat(5_000_000 + n) for n in range(CHATS)]
    stop = asyncio.Event()
    talking = asyncio.gather(*(_talk(workers.public, chat, stop) for chat in chats))

    def answered() -> int:
        return sum(len(chat.sent) for chat in chats)

    try:
        async with asyncio.timeout(4 * WORKER_SECONDS):
            while answered() < 4 * CHATS:  # noqa: ASYNC110 (the stream is flowing)
                await asyncio.sleep(0.05)
            old = workers.pids()
            assert len(old) == 2
            before = answered()
            # uvicorn's rolling restart: worker by worker, a new one starts and, once it
            # serves, the old one gets SIGTERM and is waited for.
            workers.supervisor.send_signal(signal.SIGHUP)
            for pid in old:
                await workers.stopped(pid)
            await workers.serving(4)
            assert answered() > before, "updates were answered throughout"
            await asyncio.sleep(1.0)  # both new workers take their share
    finally:
        stop.set()
        async with asyncio.timeout(WORKER_SECONDS):
            await talking

    for chat in chats:
        wrong = _difference(_received(slow_bot_api, chat.chat_id), chat.sent)
        assert wrong is None, f"chat {chat.chat_id} (redelivered after {chat.refused}): {wrong}"
    log = workers.log()
    for pid in old:
        assert FINISHED.format(pid=pid) in log, f"worker {pid} did not finish serving"
    assert DRAINING in log, "no worker had a turn in flight when it was told to stop"
    assert CUT not in log
    assert len(workers.pids() - old) == 2
