"""The console adapter in-process: rendering and the outbox notice."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from bot.adapters.console import ConsoleChat
from bot.engine import Engine
from bot.services import Services, build_services
from core.clock import FakeClock
from core.mail import enqueue
from core.settings import Settings


class Script(io.StringIO):
    def isatty(self) -> bool:
        return False


async def test_numbered_choices_and_a_mail_notice_with_the_outbox_path(
    settings: Settings, clock: FakeClock
) -> None:
    output = io.StringIO()
    chat: ConsoleChat | None = None

    def notice(to: str, path: Path) -> None:
        assert chat is not None
        chat.notice(f"mail to {to} written to {path}")

    services: Services = build_services(settings, clock=clock, on_mail_written=notice)
    try:
        async with services.sessions() as session, session.begin():
            enqueue(
                session, to="a211303001@grad.demo.edu.tw", subject="s", body="b", now=clock.now()
            )
        chat = ConsoleChat(
            Engine(services),
            lang="en",
            stdin=Script("/menu\n"),
            console=Console(file=output, width=200, color_system=None),
            user="tester",
            after_step=services.mail_worker.run_once,
        )
        await chat.run()
    finally:
        await services.close()
    text = output.getvalue()
    assert "What can I help you with?\n  1. Look up my student ID\n" in text
    eml = sorted((settings.home / "outbox").glob("*.eml"))
    assert len(eml) == 1
    assert f"mail to a211303001@grad.demo.edu.tw written to {eml[0]}" in text
