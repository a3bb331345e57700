"""What every page of the web app shares for safety: headers, CSRF and log redaction."""

from __future__ import annotations

import hmac
import logging
import re
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request

from core.settings import Settings

CSRF_COOKIE = "helpdesk_csrf"

SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def csrf_ok(request: Request, submitted: object) -> bool:
    """Whether the form's CSRF field matches the ``SameSite=Strict`` cookie."""
    cookie = request.cookies.get(CSRF_COOKIE)
    return (
        isinstance(submitted, str)
        and cookie is not None
        and hmac.compare_digest(cookie.encode(), submitted.encode())
    )


# What a log line must never show, by shape: whichever library logs it, at any level.
REDACTIONS = (
    # one-time links: /password/<token>
    (re.compile(r"(/password/)[^/\s?#\"'<>]+"), r"\1[redacted]"),
    # the Telegram bot token in Bot API URLs: .../bot123456:AAE.../getUpdates
    (re.compile(r"(bot\d{3,}:)[A-Za-z0-9_-]+"), r"\1[redacted]"),
    # Slack bot, user, app-level and refresh tokens
    (re.compile(r"\b(xox[abpre]-|xapp-)[A-Za-z0-9-]+"), r"\1[redacted]"),
    # argon2 hashes (SQL parameters at DEBUG)
    (re.compile(r"\$argon2(?:id|i|d)\$[A-Za-z0-9+/=$,.-]+"), "$argon2[redacted]"),
    # 6-digit linking codes in the shapes our messages give them
    (
        re.compile(r"(?i)((?:code|驗證碼)(?:\s+is|是)?\s*[:=：]?\s*)\d{6}(?!\d)"),
        r"\1[redacted]",
    ),
)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message (and traceback) with every secret hidden.

    Known shapes (``REDACTIONS``) and configured values (``add``: a signing secret,
    say) are replaced before any handler formats the record.
    """

    def __init__(self) -> None:
        super().__init__()
        self._values: set[str] = set()

    def add(self, *values: str) -> None:
        self._values.update(v for v in values if len(v) >= 8)

    def redact(self, text: str) -> str:
        for pattern, replacement in REDACTIONS:
            text = pattern.sub(replacement, text)
        for value in self._values:
            text = text.replace(value, "[redacted]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted; the handler reports it
            return True
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        record._redacted = True
        return True


REDACT = RedactSecrets()
_installed = False


# Loggers that show SQL parameters (typed answers, mail bodies) at DEBUG.
SQL_PARAMETER_LOGGERS = ("aiosqlite",)


def install_log_redaction(*secrets: str, sql_parameters: bool = False) -> None:
    """Hide secrets from every log record: on the root handlers and as records are made.

    Every entry point calls this first. The filter sits on the root logger's handlers;
    records are also redacted where they are created, so handlers that come later
    (uvicorn's own, a test's capture) and loggers that do not propagate never see a
    secret either. ``secrets`` are configured values to hide wherever they appear.
    SQL parameters stay out of the log even at DEBUG unless ``sql_parameters`` asks
    for them.
    """
    global _installed
    REDACT.add(*secrets)
    for name in SQL_PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if sql_parameters else logging.INFO)
    for handler in logging.getLogger().handlers:
        if REDACT not in handler.filters:
            handler.addFilter(REDACT)
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        REDACT.filter(record)
        return record

    logging.setLogRecordFactory(redacted_record)


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret value in the settings, for ``install_log_redaction``."""
    values = (getattr(settings, name, None) for name in type(settings).model_fields)
    return [v.get_secret_value() for v in values if isinstance(v, SecretStr)]
