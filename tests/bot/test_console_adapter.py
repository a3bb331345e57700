"""The console adapter in-process: rendering, the outbox notice, background delivery."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re

import httpx
from rich.console import Console

from bot.adapters.base import Adapter
from bot.adapters.console import ConsoleChat
from bot.cli.db import seed
from bot.engine import Engine
from bot.services import Services
from bot.web import create_app
from core.models import ChatNotice


class Script(io.StringIO):
    def isatty(self) -> bool:
        return False


def console_chat(services: Services, script: str, output: io.StringIO) -> ConsoleChat:
    return ConsoleChat(
        Engine(services),
        lang="en",
        stdin=Script(script),
        console=Console(file=output, width=200, color_system=None),
        user="tester/s1",
    )


async def test_the_console_is_an_adapter_that_neither_edits_nor_deletes_and_serves_no_route(
    services: Services,
) -> None:
    chat = console_chat(services, "", io.StringIO())
    assert isinstance(chat, Adapter) and chat.channel == "console"
    assert not chat.capabilities.edits_images
    assert not chat.capabilities.deletes_user_messages
    assert chat.routes() == []


async def test_a_reset_mail_in_the_outbox_is_announced_with_its_link(services: Services) -> None:
    await seed(services)
    output = io.StringIO()
    chat = console_chat(services, "I forgot my password\n211303001\nA128573490\n", output)
    await chat.startup()
    await chat.run()
    text = output.getvalue()
    assert "What can I help you with?\n  1. Look up my student ID\n" in text
    (eml,) = sorted((services.settings.home / "outbox").glob("*.eml"))
    assert f"written to {eml}" in text
    # The link itself, so the user can open it without reading the .eml file.
    (link,) = re.findall(r"^  (http://\S+/password/\S+)$", text, re.MULTILINE)
    assert link in eml.read_text(encoding="utf-8")


async def test_a_linking_mail_in_the_outbox_is_announced_with_its_code(
    services: Services,
) -> None:
    await seed(services)
    output = io.StringIO()
    chat = console_chat(services, "Link this chat to my account\n211303001\n", output)
    await chat.startup()
    await chat.run()
    (code,) = re.findall(r"^  .*?(?<!\d)(\d{6})(?!\d)", output.getvalue(), re.MULTILINE)
    (eml,) = sorted((services.settings.home / "outbox").glob("*.eml"))
    assert code in eml.read_text(encoding="utf-8")


class Screen(io.StringIO):
    """What the terminal shows; ``shown`` is set once ``expected`` appears."""

    def __init__(self, expected: str) -> None:
        super().__init__()
        self.expected = expected
        self.shown = asyncio.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.expected in self.getvalue():
            self.shown.set()
        return written


async def test_the_background_loop_shows_this_chats_notices_as_they_come(
    services: Services,
) -> None:
    screen = Screen("Your password was changed.")
    chat = console_chat(services, "", screen)
    notices = {"tester/s1": "Your password was changed.", "other/s2": "Not yours"}
    async with services.sessions() as session, session.begin():
        for chat_id, text in notices.items():
            session.add(
                ChatNotice(
                    channel="console", chat_id=chat_id, text=text, created_at=services.clock.now()
                )
            )
    loop = asyncio.create_task(chat.run_background(0.01))
    try:
        async with asyncio.timeout(5):
            await screen.shown.wait()
    finally:
        loop.cancel()
        # Wait for it to end: a loop still inside a transaction when the fixture closes the
        # database would never finish cancelling.
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    assert "Not yours" not in screen.getvalue()


async def test_the_consoles_mail_rounds_make_the_web_app_ready(services: Services) -> None:
    # Under ``helpdesk run`` the console sends the queued mail; /readyz waits for a
    # mail queue worker to have been seen.
    app = httpx.ASGITransport(app=create_app(services, mail_worker=False))
    async with httpx.AsyncClient(transport=app, base_url="http://127.0.0.1") as http:
        assert (await http.get("/readyz")).json()["mail_worker"] == "never seen"
        chat = console_chat(services, "", io.StringIO())
        await chat.deliver_background()
        ready = await http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
