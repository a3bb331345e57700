"""Forgot password end to end: chat, a real SMTP server on loopback, the page over HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from bot.engine import Engine
from bot.services import Services, build_services
from bot.web import create_app
from core.clock import FakeClock
from core.mail import SmtpMailer
from core.models import Account
from core.notices import take_pending
from core.settings import Settings
from tests.chat import Chat
from tests.factories import add_lin
from tests.live import free_port, serving
from tests.outbox import password_link_in
from tests.smtp import SmtpSink

NEW = "Blue-Harbor-Lantern-42"


@pytest.fixture
async def live(settings: Settings, clock: FakeClock) -> AsyncIterator[tuple[Services, SmtpSink]]:
    """Services whose mail goes to a real SMTP server and whose web app listens on HTTP."""
    port = free_port()
    with SmtpSink() as sink:
        configured = settings.model_copy(
            update={
                "smtp_host": "127.0.0.1",
                "smtp_port": sink.port,
                "public_url": f"http://127.0.0.1:{port}",
            }
        )
        services = build_services(configured, clock=clock)
        assert isinstance(services.mail_worker.mailer, SmtpMailer)
        try:
            async with serving(create_app(services), port):
                yield services, sink
        finally:
            await services.close()


async def test_the_mailed_link_sets_a_password_that_verifies(
    live: tuple[Services, SmtpSink],
) -> None:
    services, sink = live
    await add_lin(
        services,
        with_account=True,
    )
    chat = Chat(Engine(services), user="alice")
    await chat.say("/start")
    await chat.press("I forgot my password")
    await chat.say("211300001")
    await chat.say("F131104093")
    assert "a2******01@grad.demo.edu.tw" in chat.text()

    assert await services.mail_worker.run_once() == 1
    (mail,) = await sink.wait_for(1)
    assert mail["To"] == "a211300001@grad.demo.edu.tw"
    body = mail.get_content()
    link = password_link_in(body)
    assert link.startswith("http://127.0.0.1:")

    async with httpx.AsyncClient(timeout=10) as browser:
        page = await browser.get(link)
        assert page.status_code == 200 and "21*****01" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        done = await browser.post(
            link,
            data={"csrf": csrf.group(1), "new_password": NEW, "confirm_password": NEW},
        )
        assert done.status_code == 200 and "Password changed" in done.text
        assert (await browser.get(link)).status_code == 410

    async with services.sessions() as session:
        account = await session.scalar(select(Account).where(Account.username == "211300001"))
    assert account is not None
    assert services.passwords.verify_sync(account.password_hash, NEW)

    # The change is confirmed by mail, and the chat gets a notice.
    assert await services.mail_worker.run_once() == 1
    notice = (await sink.wait_for(2))[1]
    assert "was changed" in notice.get_content() and NEW not in notice.get_content()
    notices = await take_pending(services.sessions, channel="test", now=services.clock.now())
    assert [n.chat_id for n in notices] == ["alice"]
    assert "If this was not you" in notices[0].text
