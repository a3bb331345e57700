"""Outages: the database or the mail server goes away, and comes back.

Database: the engine answers a localized "temporarily unavailable" (and changes
nothing) while it cannot reach the database, and the same engine, in the same
process, answers normally once it can again: no restart, no crash loop. On
PostgreSQL a TCP proxy on loopback stands between the engine and the server and is
switched off and on (cutting the pooled connections too); on SQLite the database
file cannot be opened (its path is a folder) until it is put in place.

Mail: a forgotten-password link queued while the SMTP server is down stays queued
and is delivered exactly once when the server returns, even with two workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from bot.engine import Engine
from bot.services import Services, build_services
from bot.types import Choices, Incoming, Reply, Text
from core.clock import FakeClock
from core.mail import SmtpMailer
from core.models import ConversationState, MailStatus, OutboundMail, ProcessedDelivery
from core.settings import Settings
from tests.chat import Chat
from tests.factories import add_lin
from tests.outbox import password_link_in
from tests.smtp import SmtpSink, free_port

UNAVAILABLE = {
    "en": (
        "The service is temporarily unavailable. Nothing was changed; "
        "please try again in a few minutes."
    ),
    "zh-TW": "服務暫時無法使用，沒有做任何變更；請過幾分鐘再試。",
}
GREETING = {
    "en": "Hello! I am the account helpdesk of",
    "zh-TW": "您好！我是示範大學的帳號服務小幫手。",
}


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to a server; ``close`` refuses and cuts connections."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed: list[asyncio.Server] = []

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    def cut(self) -> None:
        """Stop accepting and abort every connection, at once (callable from sync code)."""
        if self._server is not None:
            self._server.close()
            self._closed.append(self._server)
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()

    async def close(self) -> None:
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while self._closed:
            await self._closed.pop().wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.transport.abort()
            self._writers.discard(sink)


@dataclass
class Switchable:
    """Services whose database can be taken away (``down``) and given back (``up``)."""

    services: Services
    down: Callable[[], Awaitable[None]]
    up: Callable[[], Awaitable[None]]
    proxy: TcpProxy | None = None


@pytest.fixture
async def postgres_behind_proxy(settings: Settings, clock: FakeClock) -> AsyncIterator[Switchable]:
    """Services reaching PostgreSQL through a proxy that is not open yet."""
    if make_url(settings.sqlalchemy_url).get_backend_name() != "postgresql":
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL): a SQLite file has no connection to cut")
    async with _postgres(settings, clock) as switchable:
        yield switchable


@pytest.fixture
async def database_away(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[Switchable]:
    """Services over a database that cannot be reached yet; ``up`` makes it reachable."""
    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() == "postgresql":
        async with _postgres(settings, clock) as switchable:
            yield switchable
        return
    real = Path(url.database or "")
    place = tmp_path / "away" / "helpdesk.db"
    place.mkdir(parents=True)  # a folder where the file should be: it cannot be opened

    async def up() -> None:
        place.rmdir()
        shutil.copyfile(real, place)

    async def down() -> None:
        raise NotImplementedError("an open SQLite file cannot be taken away")

    moved = url.set(database=str(place)).render_as_string(hide_password=False)
    services = build_services(settings.model_copy(update={"database_url": moved}), clock=clock)
    try:
        yield Switchable(services, down=down, up=up)
    finally:
        await services.close()


@contextlib.asynccontextmanager
async def _postgres(settings: Settings, clock: FakeClock) -> AsyncIterator[Switchable]:
    url = make_url(settings.sqlalchemy_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)  # not open yet: refused
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    services = build_services(settings.model_copy(update={"database_url": proxied}), clock=clock)
    try:
        yield Switchable(services, down=proxy.close, up=proxy.open, proxy=proxy)
    finally:
        await services.close()
        await proxy.close()


def _said(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies if isinstance(r, Text | Choices))


def _start(user: str, locale: str, delivery: str) -> Incoming:
    return Incoming(
        channel="test",
        user_id=user,
        chat_id=user,
        text="/start",
        locale_hint=locale,
        delivery_id=delivery,
    )


async def _claimed(services: Services) -> list[str]:
    async with services.sessions() as session:
        return sorted((await session.scalars(select(ProcessedDelivery.delivery_id))).all())


async def _assert_unavailable_in_both_languages(engine: Engine, tag: str) -> None:
    for locale in ("en", "zh-TW"):
        async with asyncio.timeout(10):
            replies = await engine.handle(_start(f"u-{locale}", locale, f"{tag}-{locale}"))
        assert replies == [Text(UNAVAILABLE[locale])], locale


async def _assert_answers_normally(engine: Engine, tag: str) -> None:
    for locale in ("en", "zh-TW"):
        async with asyncio.timeout(10):
            replies = await engine.handle(_start(f"u-{locale}", locale, f"{tag}-{locale}"))
        assert GREETING[locale] in _said(replies), locale


async def test_an_unreachable_database_gets_a_localized_unavailable_answer_and_the_engine_recovers(
    database_away: Switchable,
) -> None:
    engine = Engine(database_away.services)
    for attempt in range(3):  # asked again and again: the same answer, no crash
        await _assert_unavailable_in_both_languages(engine, f"away-{attempt}")

    await database_away.up()

    # The same engine answers normally; the deliveries refused during the outage were
    # not claimed, so the platform's retries of them are processed now.
    await _assert_answers_normally(engine, "away-0")
    await _assert_answers_normally(engine, "back")
    assert await _claimed(database_away.services) == [
        "away-0-en",
        "away-0-zh-TW",
        "back-en",
        "back-zh-TW",
    ]


async def test_a_database_lost_while_running_is_reported_and_reconnected_without_a_restart(
    postgres_behind_proxy: Switchable,
) -> None:
    services = postgres_behind_proxy.services
    engine = Engine(services)
    await postgres_behind_proxy.up()
    await _assert_answers_normally(engine, "before")  # the pool now holds live connections

    for round_ in range(2):  # lost and found twice: no state left over from the first
        await postgres_behind_proxy.down()  # pooled connections cut, new ones refused
        await _assert_unavailable_in_both_languages(engine, f"lost-{round_}")
        await postgres_behind_proxy.up()
        await _assert_answers_normally(engine, f"found-{round_}")

    async with services.sessions() as session:
        rows = await session.execute(select(ConversationState.chat_id, ConversationState.version))
        versions = {chat_id: version for chat_id, version in rows}
    assert versions == {"u-en": 3, "u-zh-TW": 3}  # before, found-0, found-1: nothing else
    assert not any(d.startswith("lost") for d in await _claimed(services))


async def test_a_database_lost_in_the_middle_of_a_step_changes_nothing_and_the_retry_is_processed(
    postgres_behind_proxy: Switchable,
) -> None:
    services, proxy = postgres_behind_proxy.services, postgres_behind_proxy.proxy
    assert proxy is not None
    engine = Engine(services)
    await postgres_behind_proxy.up()
    chat = Chat(engine, user="mid")
    await chat.say("/start")
    await chat.press("Look up my student ID")
    step = chat.incoming(action=chat.action_for("Master's programme"), delivery_id="mid-1")
    armed = True

    def cut_while_locking(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The delivery is claimed (uncommitted) and the conversation is being locked.
        nonlocal armed
        if armed and "FOR UPDATE" in statement:
            armed = False
            proxy.cut()

    event.listen(services.engine.sync_engine, "before_cursor_execute", cut_while_locking)
    try:
        async with asyncio.timeout(10):
            assert await engine.handle(step) == [Text(UNAVAILABLE["en"])]
    finally:
        event.remove(services.engine.sync_engine, "before_cursor_execute", cut_while_locking)
    assert not armed

    await postgres_behind_proxy.up()
    async with services.sessions() as session:
        state = await session.get(ConversationState, ("test", "mid"))
    assert state is not None and (state.flow, state.state, state.version) == (
        "student_id",
        "level",
        2,
    )
    assert "mid-1" not in await _claimed(services)
    # The platform's retry of the same delivery is processed normally.
    await chat.send(step)
    assert "national ID number" in chat.text()
    assert "mid-1" in await _claimed(services)


# -- mail ---------------------------------------------------------------------------------


@pytest.fixture
async def mail_down(settings: Settings, clock: FakeClock) -> AsyncIterator[tuple[Services, int]]:
    """Services whose SMTP server (a port nothing listens on yet) is down."""
    port = free_port()
    configured = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
    services = build_services(configured, clock=clock)
    assert isinstance(services.mail_worker.mailer, SmtpMailer)
    try:
        yield services, port
    finally:
        await services.close()


async def _mail_rows(services: Services) -> list[OutboundMail]:
    async with services.sessions() as session:
        return list((await session.scalars(select(OutboundMail))).all())


async def test_a_reset_link_queued_while_smtp_is_down_is_delivered_exactly_once_when_it_returns(
    mail_down: tuple[Services, int], clock: FakeClock
) -> None:
    services, port = mail_down
    await add_lin(
        services,
        with_account=True,
    )
    chat = Chat(Engine(services), user="alice")
    await chat.say("/start")
    await chat.press("I forgot my password")
    await chat.say("211300001")
    await chat.say("F131104093")
    assert "If the details match, a link was sent to a2******01@grad.demo.edu.tw" in chat.text()

    # The server is down: the worker tries, the mail stays queued.
    for _ in range(2):
        assert await services.mail_worker.run_once() == 0
        clock.advance(minutes=5)
    (row,) = await _mail_rows(services)
    assert (row.status, row.attempts, row.sent_at) == (MailStatus.QUEUED, 2, None)

    # It returns; two workers (separate pools) run at once, then again and again.
    other = build_services(services.settings, clock=clock)
    try:
        with SmtpSink(port, timeout=5) as sink:
            clock.advance(minutes=5)
            sent = await asyncio.gather(
                services.mail_worker.run_once(), other.mail_worker.run_once()
            )
            assert sorted(sent) == [0, 1]
            for _ in range(2):
                clock.advance(hours=2)
                assert await services.mail_worker.run_once() == 0
                assert await other.mail_worker.run_once() == 0
            (mail,) = await sink.wait_for(1)
            await asyncio.sleep(0.2)  # nothing else is on its way
            assert len(sink.received) == 1
    finally:
        await other.close()

    assert mail["To"] == "a211300001@grad.demo.edu.tw"
    assert password_link_in(mail.get_content())
    (row,) = await _mail_rows(services)
    assert (row.status, row.attempts) == (MailStatus.SENT, 3)
    async with services.sessions() as session:
        queued = await session.scalar(
            select(func.count())
            .select_from(OutboundMail)
            .where(OutboundMail.status == MailStatus.QUEUED)
        )
    assert queued == 0
