"""Structured logs: one JSON object a line, with the chat turn each line belongs to.

A turn (one incoming message and its replies) gets a random id and the chat user's
pseudonym (``PiiHasher.chat_user``) in a context variable, so every line logged while
it runs carries both, whichever library logs it. Records are redacted before they get
here (``bot.web.security.install_log_redaction``), so the JSON shows what the text
format would.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


@dataclass
class Turn:
    """The chat turn being handled: what its log lines and its metric name."""

    id: str
    actor: str
    flow: str = ""
    stepped: bool = False


CURRENT_TURN: contextvars.ContextVar[Turn | None] = contextvars.ContextVar(
    "helpdesk_turn", default=None
)


@contextlib.contextmanager
def turn(actor: str) -> Iterator[Turn]:
    """Mark everything logged inside as part of one turn of ``actor``'s chat."""
    current = Turn(id=secrets.token_hex(8), actor=actor)
    token = CURRENT_TURN.set(current)
    try:
        yield current
    finally:
        CURRENT_TURN.reset(token)


def current_turn() -> Turn | None:
    return CURRENT_TURN.get()


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: time (UTC), level, logger, message, turn, actor."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = CURRENT_TURN.get()
        if current is not None:
            entry["turn"] = current.id
            entry["actor"] = current.actor
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for ``HELPDESK_LOG_FORMAT``: ``json`` or ``text``."""
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
