"""A real SMTP server on loopback for tests: aiosmtpd in its own thread and loop.

    with SmtpSink() as sink:                     # or sink.start() ... sink.stop()
        mailer = SmtpMailer("127.0.0.1", sink.port, timeout=5)
        ...
        await sink.wait_for(1)                   # async; sink.wait_for_sync(1) in sync tests
        assert sink.messages[0]["Subject"] == "..."

The controller runs its own event loop in a thread, so the sink works the same from
sync and async tests. ``stop()`` joins that thread and closes its loop and socket.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A port nothing listens on right now (bound, then closed again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass(frozen=True)
class Received:
    """One delivered mail: the parsed message and the SMTP envelope."""

    message: EmailMessage
    mail_from: str
    rcpt_tos: list[str]


class _Collector:
    """The aiosmtpd handler: parse each message and hand it to the sink."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.sink._add(
            Received(
                message=message,
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
            )
        )
        return "250 OK"


class SmtpSink:
    """An SMTP server on ``127.0.0.1`` that keeps every message it receives."""

    def __init__(self, port: int | None = None, *, host: str = HOST, timeout: float = 5.0) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.timeout = timeout
        self.received: list[Received] = []
        self._changed = threading.Condition()
        self._controller: Controller | None = None

    # -- life cycle -------------------------------------------------------------

    def start(self) -> SmtpSink:
        """Listen on ``self.port``; returns once the server answers (or raises)."""
        if self._controller is not None:
            raise RuntimeError("SmtpSink already started")
        controller = Controller(
            _Collector(self), hostname=self.host, port=self.port, ready_timeout=self.timeout
        )
        try:
            controller.start()
        except BaseException:
            # A failed start (port taken, ...) leaves the thread's loop open: close it.
            controller.stop(no_assert=True)
            if not controller.loop.is_closed():
                controller.loop.close()
            raise
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop the server, join its thread, close its loop; safe to call twice."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what arrived -----------------------------------------------------------

    @property
    def messages(self) -> list[EmailMessage]:
        with self._changed:
            return [item.message for item in self.received]

    def _add(self, item: Received) -> None:
        with self._changed:
            self.received.append(item)
            self._changed.notify_all()

    def wait_for_sync(self, count: int = 1, timeout: float | None = None) -> list[EmailMessage]:
        """Block until at least ``count`` messages arrived; ``TimeoutError`` otherwise."""
        limit = self.timeout if timeout is None else timeout
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, limit):
                raise TimeoutError(
                    f"{len(self.received)} of {count} message(s) arrived within {limit}s"
                )
            return [item.message for item in self.received]

    async def wait_for(self, count: int = 1) -> list[EmailMessage]:
        """Like ``wait_for_sync``, without blocking the test's event loop.

        Bounded by the sink's ``timeout``; wrap it in ``asyncio.timeout(...)`` for a
        shorter bound. Raises ``TimeoutError`` either way.
        """
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    with self._changed:
                        if len(self.received) >= count:
                            return [item.message for item in self.received]
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise TimeoutError(
                f"{len(self.received)} of {count} message(s) arrived within {self.timeout}s"
            ) from None
