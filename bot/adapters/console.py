"""The console chat: the embedded default's adapter, for a terminal or a script.

Choices are numbered and answered by number or label (the engine matches both).
When stdin is not a terminal it reads one input per line, prints each reply block
flushed, and exits on end of input, so a script can drive it.

Each run is its own chat (the OS user and a fresh session name), so a second
terminal, or a script run beside ``make run``, never lands in another's
conversation; naming a session (``helpdesk chat --session NAME``) resumes it.

It is an ``Adapter`` like the platforms' but serves no web route: its background
loop sends the queued mail and shows this chat's notices, and a mail written to the
outbox is announced with its link or code, so the user can go on without opening it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import getpass
import re
import secrets
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import TextIO

from rich.console import Console
from starlette.routing import BaseRoute

from bot.adapters.base import Capabilities
from bot.delivery import BackgroundDelivery
from bot.engine import Engine
from bot.types import Choices, DeleteUserMessage, Edit, Image, Incoming, Reply, Text
from core.background import run_every
from core.heartbeats import MAIL_JOB, beating
from core.mail import OutboxMailer

CHANNEL = "console"
# A terminal prints what it is given: no edits, no deletions, no limits on buttons.
CAPABILITIES = Capabilities(
    edits_images=False,
    deletes_user_messages=False,
    max_buttons=None,
    max_label_length=None,
    max_text_length=None,
)
URL = re.compile(r"https?://\S+")
# A linking code: six digits on their own.
CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")


def session_chat_id(session: str | None = None) -> str:
    """The chat of this console session: ``user/session``, a new session when unnamed."""
    return f"{getpass.getuser()}/{session or secrets.token_hex(4)}"


class ConsoleChat:
    """One person chatting with the bot in this terminal: the console's adapter."""

    channel = CHANNEL
    capabilities = CAPABILITIES

    def __init__(
        self,
        engine: Engine,
        *,
        lang: str | None,
        stdin: TextIO | None = None,
        console: Console | None = None,
        user: str | None = None,
    ) -> None:
        self.engine = engine
        self.services = engine.services
        self.lang = lang
        self.stdin = stdin or sys.stdin
        self.interactive = self.stdin.isatty()
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.user = user or getpass.getuser()
        self.background = BackgroundDelivery(self.services, CHANNEL, self.send)
        # The console's rounds are the embedded default's mail queue worker: they beat
        # like the web app's, so /readyz is ready under ``helpdesk run``.
        self._send_mail = beating(
            self.services.mail_worker.run_once,
            self.services.sessions,
            self.services.clock,
            MAIL_JOB,
        )

    def routes(self) -> list[BaseRoute]:
        return []

    async def startup(self) -> None:
        """Announce each mail the outbox writes (on the embedded default) in this chat."""
        mailer = self.services.mail_worker.mailer
        if isinstance(mailer, OutboxMailer):
            mailer.on_written = self.mail_written

    async def shutdown(self) -> None:
        """Nothing to close: the terminal stays the user's."""

    async def send(self, chat_id: str, replies: list[Reply]) -> None:
        self.render(replies)

    async def deliver_background(self) -> None:
        """Send queued mail and show this chat's notices (e.g. from the password page)."""
        await self._send_mail()
        await self.background.run_once(chat_id=self.user)

    async def run_background(self, interval: float = 1.0) -> None:
        await run_every(interval, self.deliver_background, name="console delivery")

    def _incoming(self, text: str | None) -> Incoming:
        return Incoming(
            channel=CHANNEL,
            user_id=self.user,
            chat_id=self.user,
            text=text,
            locale_hint=self.lang,
        )

    async def run(self) -> None:
        # Re-ask where the conversation stands (a restarted process continues it).
        await self._turn(None)
        while True:
            line = await asyncio.to_thread(self._read_line)
            if line is None:
                return
            if not line.strip():
                continue
            await self._turn(line.rstrip("\n"))

    def _read_line(self) -> str | None:
        if self.interactive:
            try:
                return self.console.input("[bold]> [/bold]")
            except (EOFError, KeyboardInterrupt):
                return None
        line = self.stdin.readline()
        return line if line else None

    async def _turn(self, text: str | None) -> None:
        replies = await self.engine.handle(self._incoming(text))
        self.render(replies)
        await self.deliver_background()

    def render(self, replies: list[Reply]) -> None:
        for reply in replies:
            self.console.print(_format(reply), markup=False)
            self.console.print()
        self.console.file.flush()

    def notice(self, text: str) -> None:
        self.console.print(text, markup=False, style="dim")
        self.console.file.flush()

    def mail_written(self, to: str, path: Path) -> None:
        """Name the outbox file and show the mail's link or code line."""
        lines = [f"✉ mail to {to} written to {path}"]
        lines += [f"  {line}" for line in what_to_use(path)]
        self.notice("\n".join(lines))


def what_to_use(path: Path) -> list[str]:
    """The lines of a written mail that hold its link, or else its code."""
    with path.open("rb") as file:
        message = email.message_from_binary_file(file, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return [line for line in lines if URL.search(line)] or [
        line for line in lines if CODE.search(line)
    ]


def _format(reply: Reply) -> str:
    match reply:
        case Text(text):
            return text
        case Choices(text, choices):
            lines = [text, *(f"  {n}. {choice.label}" for n, choice in enumerate(choices, 1))]
            return "\n".join(lines)
        case Image() as image:
            return _image(image)
        case Edit(_, image):
            # A terminal cannot replace what it printed: the new image follows.
            return _image(image)
        case DeleteUserMessage():
            return "(The message above could not be removed from this terminal.)"


def _image(image: Image) -> str:
    lines = [part for part in (image.terminal_art, image.caption) if part]
    lines += [f"  {n}. {choice.label}" for n, choice in enumerate(image.choices, 1)]
    return "\n".join(lines)
