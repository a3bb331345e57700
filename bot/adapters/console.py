"""The console chat: the embedded default's adapter, for a terminal or a script.

Choices are numbered and answered by number or label (the engine matches both).
When stdin is not a terminal it reads one input per line, prints each reply block
flushed, and exits on end of input, so a script can drive it.

Each run is its own chat (the OS user and a fresh session name), so a second
terminal, or a script run beside ``make run``, never lands in another's
conversation; naming a session (``helpdesk chat --session NAME``) resumes it.
"""

from __future__ import annotations

import asyncio
import getpass
import secrets
import sys
from collections.abc import Callable
from typing import TextIO

from rich.console import Console

from bot.engine import Engine
from bot.types import Choices, DeleteUserMessage, Edit, Image, Incoming, Reply, Text

CHANNEL = "console"


def session_chat_id(session: str | None = None) -> str:
    """The chat of this console session: ``user/session``, a new session when unnamed."""
    return f"{getpass.getuser()}/{session or secrets.token_hex(4)}"


class ConsoleChat:
    """One person chatting with the bot in this terminal."""

    def __init__(
        self,
        engine: Engine,
        *,
        lang: str | None,
        stdin: TextIO | None = None,
        console: Console | None = None,
        user: str | None = None,
        after_step: Callable[[], object] | None = None,
    ) -> None:
        self.engine = engine
        self.lang = lang
        self.stdin = stdin or sys.stdin
        self.interactive = self.stdin.isatty()
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.user = user or getpass.getuser()
        self.after_step = after_step

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
        if self.after_step is not None:
            result = self.after_step()
            if asyncio.iscoroutine(result):
                await result

    def render(self, replies: list[Reply]) -> None:
        for reply in replies:
            self.console.print(_format(reply), markup=False)
            self.console.print()
        self.console.file.flush()

    def notice(self, text: str) -> None:
        self.console.print(text, markup=False, style="dim")
        self.console.file.flush()


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
