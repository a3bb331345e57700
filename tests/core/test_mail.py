"""The mail queue: queued in a transaction, sent once by the worker, kept on failure."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.services import Services
from core.clock import FakeClock
from core.mail import MailWorker, OutboxMailer, enqueue, mask_address
from core.models import MailStatus, OutboundMail


class FlakyMailer:
    """Refuses the first ``failures`` sends, like a mail server that is down."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> str:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionRefusedError("mail server down")
        self.sent.append(message)
        return "250 OK"


async def _queue(services: Services, to: str = "a211300001@grad.demo.edu.tw") -> None:
    async with services.sessions() as session, session.begin():
        enqueue(session, to=to, subject="重設密碼", body="連結 / link", now=services.clock.now())


async def test_a_queued_mail_becomes_an_eml_file_in_the_outbox(
    services: Services, tmp_path: Path
) -> None:
    written: list[Path] = []
    outbox = OutboxMailer(tmp_path / "outbox", on_written=lambda _to, path: written.append(path))
    worker = MailWorker(services.sessions, outbox, services.clock, "Helpdesk <hd@localhost>")
    await _queue(services)
    assert await worker.run_once() == 1
    assert len(written) == 1
    message = message_from_bytes(written[0].read_bytes(), policy=policy.default)
    assert message["To"] == "a211300001@grad.demo.edu.tw"
    assert message["Subject"] == "重設密碼"
    assert await worker.run_once() == 0  # sent once, not again


async def test_mail_stays_queued_while_the_server_is_down_and_is_sent_once_after(
    services: Services, clock: FakeClock
) -> None:
    mailer = FlakyMailer(failures=2)
    worker = MailWorker(services.sessions, mailer, clock, "hd@localhost")
    await _queue(services)
    assert await worker.run_once() == 0
    clock.advance(minutes=2)
    assert await worker.run_once() == 0
    clock.advance(minutes=5)
    assert await worker.run_once() == 1
    clock.advance(minutes=60)
    assert await worker.run_once() == 0
    assert len(mailer.sent) == 1
    async with services.sessions() as session:
        row = await session.scalar(select(OutboundMail))
        assert row is not None and row.status == MailStatus.SENT and row.attempts == 3


async def test_a_mail_is_not_retried_before_its_backoff(
    services: Services, clock: FakeClock
) -> None:
    mailer = FlakyMailer(failures=1)
    worker = MailWorker(services.sessions, mailer, clock, "hd@localhost")
    await _queue(services)
    await worker.run_once()
    clock.advance(seconds=10)
    assert await worker.run_once() == 0
    assert mailer.sent == []


async def test_an_outbox_mail_in_chinese_shows_its_text_and_link_to_cat(
    services: Services, tmp_path: Path
) -> None:
    # zh-TW mail used to be base64, so `cat` showed neither the sentence nor the link.
    link = "http://127.0.0.1:8080/password/" + "Ab3_-" * 12
    written: list[Path] = []
    outbox = OutboxMailer(tmp_path / "outbox", on_written=lambda _to, path: written.append(path))
    worker = MailWorker(services.sessions, outbox, services.clock, "hd@localhost")
    async with services.sessions() as session, session.begin():
        body = f"請在 15 分鐘內開啟以下連結設定新密碼：\n{link}\n"
        enqueue(
            session, to="a@example.org", subject="重設密碼", body=body, now=services.clock.now()
        )
    await worker.run_once()

    raw = written[0].read_bytes()
    assert link.encode() in raw
    assert "請在 15 分鐘內開啟以下連結設定新密碼".encode() in raw
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message.get_content() == body


async def test_a_sent_mail_keeps_only_its_metadata_not_the_link(
    services: Services, clock: FakeClock
) -> None:
    mailer = FlakyMailer(failures=0)
    worker = MailWorker(services.sessions, mailer, clock, "hd@localhost")
    async with services.sessions() as session, session.begin():
        enqueue(
            session,
            to="a@example.org",
            subject="重設密碼",
            body="/password/s3cr3t",
            now=clock.now(),
        )
    await worker.run_once()

    assert "/password/s3cr3t" in mailer.sent[0].get_content()
    async with services.sessions() as session:
        row = await session.scalar(select(OutboundMail))
    assert row is not None and row.status == MailStatus.SENT
    assert row.body == "" and row.to_address == "a@example.org" and row.subject == "重設密碼"
    assert row.sent_at == clock.now()


async def test_a_mail_that_finally_fails_drops_its_body_too(
    services: Services, clock: FakeClock
) -> None:
    mailer = FlakyMailer(failures=100)
    worker = MailWorker(services.sessions, mailer, clock, "hd@localhost")
    await _queue(services)
    for _ in range(10):
        await worker.run_once()
        clock.advance(minutes=61)
    async with services.sessions() as session:
        row = await session.scalar(select(OutboundMail))
    assert row is not None and row.status == MailStatus.FAILED and row.body == ""


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("a211300001@grad.ntue.edu.tw", "a2******01@grad.ntue.edu.tw"),
        ("mzlin@mx.nthu.edu.tw", "mz*in@mx.nthu.edu.tw"),
        ("abc@x.tw", "a*c@x.tw"),
        ("ab@x.tw", "a*@x.tw"),
    ],
)
def test_an_address_is_masked_but_recognisable(address: str, masked: str) -> None:
    assert mask_address(address) == masked
