"""A directory that does not answer stalls the index sync, never the chat.

The scheduled sync reads the directory with no database transaction open: under SQLite
every transaction holds the database's write lock, so a sync that kept one open while
the directory answered (or timed out) would hold up every chat turn meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from bot.engine import Engine
from bot.services import Services
from bot.web.app import sync_directory_index
from core.models import DirectoryIndexEntry
from core.settings import Settings
from tests.chat import Chat
from tests.core.directory.conftest import pointed_at
from tests.directory_backends import on_directory, sync_index
from tests.ldap_server import SlapdServer, ldap_profile, own_slapd, slapd_server

__all__ = ["own_slapd", "slapd_server"]

LIN = "211303001"  # 林明志, master's programme, in the generated directory
LIN_ID_NUMBER, LIN_BIRTHDAY = "A128573490", "2001-03-14"
LEAVER = "111201002"  # an entry the registrar deletes before the sync


class HeldProxy:
    """A loopback proxy to slapd that takes connections but relays nothing until
    ``release``: a directory server that does not answer, for as long as a test wants."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.waiting = threading.Event()  # a client has connected and waits for an answer
        self._released = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def uri(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def release(self) -> None:
        self._released.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self.waiting.set()
        self._released.wait()
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            client.close()
            return
        self._sockets.append(upstream)
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    target.shutdown(socket.SHUT_WR)
                    return
                target.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._released.set()
        self.listener.close()
        for each in self._sockets:
            with contextlib.suppress(OSError):
                each.close()


@dataclass
class Campus:
    services: Services
    server: SlapdServer
    proxy: HeldProxy


@pytest.fixture
async def campus(
    services: Services, settings: Settings, own_slapd: SlapdServer
) -> AsyncIterator[Campus]:
    """The bot on an LDAP profile whose index is synced, its directory behind a held proxy."""
    on_directory(services, settings, pointed_at(ldap_profile(), own_slapd.uri))
    await sync_index(services)
    await services.directories.close()
    proxy = HeldProxy(own_slapd.port)
    profile = pointed_at(ldap_profile(), proxy.uri)
    # Long enough that the held directory times out only after the test releases it.
    profile = profile.model_copy(
        update={"directory": profile.directory.model_copy(update={"timeout_seconds": 60})}
    )
    on_directory(services, settings, profile)
    try:
        yield Campus(services, own_slapd, proxy)
    finally:
        proxy.close()
        await services.directories.close()


async def _indexed(services: Services, dn: str) -> bool:
    async with services.sessions() as session:
        return (
            await session.scalar(select(DirectoryIndexEntry.dn).where(DirectoryIndexEntry.dn == dn))
            is not None
        )


async def test_a_chat_turn_during_a_sync_answers_while_the_sync_waits_for_the_directory(
    campus: Campus,
) -> None:
    services, server, proxy = campus.services, campus.server, campus.proxy
    leaver = server.account(LEAVER).dn
    await asyncio.to_thread(server.delete, leaver)
    chat = Chat(Engine(services), user="lin")
    await chat.say("/start")
    await chat.press("Look up my student ID")
    await chat.press("Master's programme")
    await chat.say(LIN_ID_NUMBER)
    events: list[str] = []

    async def scheduled_sync() -> None:
        await sync_directory_index(services)
        events.append("sync done")

    syncing = asyncio.create_task(scheduled_sync())
    try:
        # The sync has reached the directory, which does not answer.
        assert await asyncio.to_thread(proxy.waiting.wait, 30)
        answer = await chat.say(LIN_BIRTHDAY)
        events.append("turn answered")
        assert f"Your student ID is {LIN}." in chat.text(), answer
        assert not syncing.done()
        proxy.release()
        await syncing
    finally:
        proxy.release()
        if not syncing.done():
            syncing.cancel()
    assert events == ["turn answered", "sync done"]
    # Once the directory answered, the sync did its work: the deleted entry is gone.
    assert not await _indexed(services, leaver)
    assert await _indexed(services, server.account(LIN).dn)
