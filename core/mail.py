"""Outbound mail: a queue in the database, sent by a worker off the request path.

A flow only adds a row in its own transaction, so its answer takes the same time
whether or not a mail was queued (OWASP Forgot Password cheat sheet), and a mail
server outage never loses a message: the row stays queued until it is sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

import aiosmtplib
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.models import MailStatus, OutboundMail
from core.settings import Settings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
# What a sent (or finally failed) mail's body becomes: the queue keeps to, subject,
# status and times, not the link or code.
PURGED = ""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> str:
        """Deliver one message; return where it went (a path or a server reply)."""
        ...


def enqueue(
    session: AsyncSession, *, to: str, subject: str, body: str, now: dt.datetime
) -> OutboundMail:
    """Queue a mail in the caller's transaction."""
    mail = OutboundMail(
        to_address=to,
        subject=subject,
        body=body,
        status=MailStatus.QUEUED,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(mail)
    return mail


def mask_address(address: str) -> str:
    """Show enough of an address to recognise it: a2******01@grad.ntue.edu.tw."""
    local, _, domain = address.partition("@")
    if len(local) <= 2:
        shown = local[:1] + "*" * max(len(local) - 1, 1)
    elif len(local) <= 4:
        shown = local[0] + "*" * (len(local) - 2) + local[-1]
    else:
        shown = local[:2] + "*" * (len(local) - 4) + local[-2:]
    return f"{shown}@{domain}"


class OutboxMailer:
    """The embedded default: each message becomes an ``.eml`` file in a folder.

    The body is written as 8-bit UTF-8, not the base64 the email package picks for
    Chinese text, so ``cat`` shows the sentence and the link as they are.
    """

    def __init__(self, folder: Path, on_written: Callable[[str, Path], None] | None = None) -> None:
        self.folder = folder
        self.on_written = on_written

    async def send(self, message: EmailMessage) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        safe_to = re.sub(r"[^A-Za-z0-9@._-]", "_", str(message["To"]))
        path = self.folder / f"{stamp}-{safe_to}.eml"
        if not message.is_multipart():
            message.set_content(message.get_content(), cte="8bit")
        path.write_bytes(message.as_bytes())
        if self.on_written is not None:
            self.on_written(str(message["To"]), path)
        return str(path)


class SmtpMailer:
    """Sends each message to an SMTP server (aiosmtplib, one connection per message).

    Failures are left to the caller: aiosmtplib's ``SMTPException`` (connection
    refused, timeout, a refused command) and ``OSError`` reach ``MailWorker``, which
    keeps the row queued and retries it. Nothing here logs the message, whose body
    may hold a one-time link.
    """

    def __init__(
        self,
        hostname: str,
        port: int = 25,
        *,
        username: str | None = None,
        password: SecretStr | None = None,
        start_tls: bool = False,
        timeout: float = 30.0,
    ) -> None:
        self.hostname = hostname
        self.port = port
        self.username = username
        self.password = password
        self.start_tls = start_tls
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings, *, timeout: float = 30.0) -> SmtpMailer:
        if not settings.smtp_host:
            raise ValueError("SmtpMailer needs settings.smtp_host")
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_starttls,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"SmtpMailer({self.hostname}:{self.port}, starttls={self.start_tls})"

    async def send(self, message: EmailMessage) -> str:
        """Deliver ``message`` to its ``To`` recipients; return the server's reply text."""
        _refused, reply = await aiosmtplib.send(
            message,
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=None if self.password is None else self.password.get_secret_value(),
            start_tls=self.start_tls,
            timeout=self.timeout,
        )
        return reply


class MailWorker:
    """Sends queued mail; each row is claimed by one worker (SKIP LOCKED)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        mailer: Mailer,
        clock: Clock,
        sender: str,
    ) -> None:
        self.sessions = sessions
        self.mailer = mailer
        self.clock = clock
        self.sender = sender

    def _message(self, row: OutboundMail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = row.to_address
        message["Subject"] = row.subject
        message["Date"] = format_datetime(row.created_at)
        message["Message-ID"] = make_msgid(idstring=f"helpdesk-{row.id}")
        message.set_content(row.body)
        return message

    async def run_once(self, batch: int = 20) -> int:
        """Send what is due now; return how many were sent."""
        sent = 0
        async with self.sessions() as session, session.begin():
            now = self.clock.now()
            rows = (
                await session.scalars(
                    select(OutboundMail)
                    .where(
                        OutboundMail.status == MailStatus.QUEUED,
                        OutboundMail.next_attempt_at <= now,
                    )
                    .order_by(OutboundMail.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                try:
                    await self.mailer.send(self._message(row))
                except (OSError, TimeoutError, aiosmtplib.SMTPException) as exc:
                    # A temporary failure: keep the row, retry later. Log the row id,
                    # the attempt and the exception type only, never the body.
                    row.attempts += 1
                    row.last_error = type(exc).__name__
                    if row.attempts >= MAX_ATTEMPTS:
                        row.status = MailStatus.FAILED
                        row.body = PURGED  # its link or code has long expired
                    row.next_attempt_at = now + dt.timedelta(
                        seconds=min(30 * 2**row.attempts, 3600)
                    )
                    log.warning(
                        "mail %s not sent (attempt %s): %s", row.id, row.attempts, row.last_error
                    )
                    continue
                row.status = MailStatus.SENT
                # The body holds a live link or code; once delivered, only metadata stays.
                row.body = PURGED
                row.attempts += 1
                row.sent_at = now
                sent += 1
        return sent
