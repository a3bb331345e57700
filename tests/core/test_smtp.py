"""Mail over real SMTP: the worker delivers to an aiosmtpd server on loopback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from bot.services import Services, build_services
from core.clock import FakeClock
from core.mail import MailWorker, SmtpMailer, enqueue
from core.models import MailStatus, OutboundMail
from core.settings import Settings
from tests.smtp import SmtpSink, free_port

TO = "a211300001@grad.demo.edu.tw"
SENDER = "Campus Helpdesk <helpdesk@demo.edu.tw>"
SUBJECT = "重設密碼 / Reset your password"
BODY = "請在 30 分鐘內開啟這個一次性連結：https://helpdesk.example/r/one-time-secret\n"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink(timeout=5) as running:
        yield running


async def _queue(services: Services) -> None:
    async with services.sessions() as session, session.begin():
        enqueue(session, to=TO, subject=SUBJECT, body=BODY, now=services.clock.now())


async def _only_row(services: Services) -> OutboundMail:
    async with services.sessions() as session:
        rows = (await session.scalars(select(OutboundMail))).all()
    assert len(rows) == 1
    return rows[0]


async def test_a_queued_mail_is_delivered_over_smtp_with_its_utf8_subject_and_body(
    services: Services, clock: FakeClock, sink: SmtpSink
) -> None:
    worker = MailWorker(
        services.sessions, SmtpMailer("127.0.0.1", sink.port, timeout=5), clock, SENDER
    )
    await _queue(services)

    assert await worker.run_once() == 1

    [message] = await sink.wait_for(1)
    assert message["To"] == TO
    assert message["From"] == SENDER
    assert message["Subject"] == SUBJECT
    assert message.get_content() == BODY
    assert sink.received[0].rcpt_tos == [TO]
    assert sink.received[0].mail_from == "helpdesk@demo.edu.tw"
    row = await _only_row(services)
    assert row.status == MailStatus.SENT and row.attempts == 1


async def test_the_smtp_mailer_returns_the_server_reply(sink: SmtpSink) -> None:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = TO
    message["Subject"] = SUBJECT
    message.set_content(BODY)

    reply = await SmtpMailer("127.0.0.1", sink.port, timeout=5).send(message)

    assert reply == "OK"
    assert len(await sink.wait_for(1)) == 1


async def test_mail_stays_queued_while_the_smtp_server_is_down_and_is_delivered_once_after(
    services: Services, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # bound and closed again: nothing listens there
    worker = MailWorker(services.sessions, SmtpMailer("127.0.0.1", port, timeout=5), clock, SENDER)
    await _queue(services)

    with caplog.at_level(logging.WARNING, logger="core.mail"):
        assert await worker.run_once() == 0

    row = await _only_row(services)
    assert row.status == MailStatus.QUEUED and row.attempts == 1 and row.sent_at is None
    assert row.last_error == "SMTPConnectError"
    assert "SMTPConnectError" in caplog.text
    assert "one-time-secret" not in caplog.text and TO not in caplog.text

    with SmtpSink(port, timeout=5) as sink:
        assert await worker.run_once() == 0  # the backoff (60 s after one failure) holds
        clock.advance(minutes=2)
        assert await worker.run_once() == 1
        clock.advance(hours=2)
        assert await worker.run_once() == 0
        assert await worker.run_once() == 0

        [message] = await sink.wait_for(1)
        assert message["Subject"] == SUBJECT
        assert len(sink.received) == 1

    row = await _only_row(services)
    assert row.status == MailStatus.SENT and row.attempts == 2


async def test_build_services_sends_over_smtp_when_an_smtp_host_is_set(
    settings: Settings, clock: FakeClock
) -> None:
    smtp_settings = settings.model_copy(
        update={
            "smtp_host": "smtp.demo.edu.tw",
            "smtp_port": 587,
            "smtp_username": "helpdesk",
            "smtp_starttls": True,
        }
    )
    built = build_services(smtp_settings, clock=clock)
    try:
        mailer = built.mail_worker.mailer
        assert isinstance(mailer, SmtpMailer)
        assert (mailer.hostname, mailer.port, mailer.username, mailer.start_tls) == (
            "smtp.demo.edu.tw",
            587,
            "helpdesk",
            True,
        )
    finally:
        await built.close()


async def test_build_services_writes_to_the_outbox_when_no_smtp_host_is_set(
    services: Services,
) -> None:
    assert not isinstance(services.mail_worker.mailer, SmtpMailer)
