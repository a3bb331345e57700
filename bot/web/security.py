"""What every page of the web app shares for safety: headers, CSRF, log redaction, body limits."""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import logging
import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from pydantic import SecretStr
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
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
    # enrolment codes staff hand to new hires, as issued (K7QM-2X9D-PA) or typed in lower case:
    # core.accounts' Crockford base32 (no I, L, O or U), 4-4-2
    (
        re.compile(
            r"(?i)(?<![0-9A-Z-])[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-"
            r"[0-9A-HJKMNP-TV-Z]{2}(?![0-9A-Z-])"
        ),
        "[redacted]",
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
        redacted = self.redact(message)
        record.msg, record.args = self._kept_args(record, redacted) or (redacted, None)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        record._redacted = True
        return True

    def _kept_args(
        self, record: logging.LogRecord, redacted: str
    ) -> tuple[object, tuple[object, ...]] | None:
        """The record's format and its arguments each redacted, if that hides as much.

        Some formatters take the arguments apart (uvicorn's access log unpacks client,
        method, path, version and status), so they stay a tuple where redacting them one
        by one gives the same line as redacting the whole message; otherwise (a secret
        spread over the format and an argument, an object that prints one) the message
        is kept redacted whole and the arguments dropped.
        """
        args = record.args
        if not isinstance(args, tuple) or not args or not isinstance(record.msg, str):
            return None
        kept = tuple(self.redact(arg) if isinstance(arg, str) else arg for arg in args)
        msg = self.redact(record.msg)
        try:
            same = msg % kept == redacted
        except (TypeError, ValueError):
            return None
        return (msg, kept) if same else None


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


# -- requests: body size and time, headers on every response -----------------------------

DEFAULT_BODY_LIMIT = 1024 * 1024  # webhooks: a platform's largest event is far below this
# The card verifier reads at most 1 KiB itself and answers more in the page's language.
BODY_LIMITS = {"/password/": 16 * 1024, "/card/verify": 8 * 1024}
BODY_TIMEOUT = 10.0  # seconds to send the whole body; a trickle holds a worker otherwise
HSTS = "max-age=31536000"


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class RequestGuard:
    """ASGI middleware: body caps and a body deadline before any route reads, headers after.

    A body over its route's cap is refused with 413 before it is read (a declared
    ``Content-Length``) or as soon as it passes the cap (chunked); a body not complete
    within ``timeout`` seconds gets 408. Every HTML response gets the security headers
    it lacks, and every response HSTS when the public URL is https.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        https: bool = False,
        limits: Mapping[str, int] = BODY_LIMITS,
        default_limit: int = DEFAULT_BODY_LIMIT,
        timeout: float = BODY_TIMEOUT,
    ) -> None:
        self.app = app
        self.https = https
        self.limits = limits
        self.default_limit = default_limit
        self.timeout = timeout

    def limit_for(self, path: str) -> int:
        return next(
            (limit for prefix, limit in self.limits.items() if path.startswith(prefix)),
            self.default_limit,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    for name, value in SECURITY_HEADERS.items():
                        headers.setdefault(name, value)
                if self.https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(413, scope, receive, send_with_headers)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        received = 0
        complete = False

        async def guarded_receive() -> Message:
            nonlocal received, complete
            if complete:  # after the body: waiting for a disconnect has no deadline
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _TooSlow from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
                complete = not message.get("more_body", False)
            return message

        try:
            await self.app(scope, guarded_receive, send_with_headers)
        except (_TooLarge, _TooSlow) as refused:
            if started:
                raise
            status = 413 if isinstance(refused, _TooLarge) else 408
            await self._refuse(status, scope, receive, send_with_headers)

    async def _refuse(self, status: int, scope: Scope, receive: Receive, send: Send) -> None:
        response = PlainTextResponse(
            HTTPStatus(status).phrase, status_code=status, headers={"Connection": "close"}
        )
        await response(scope, receive, send)


def server_options(trusted_proxies: Sequence[str]) -> dict[str, Any]:
    """uvicorn's settings for forwarded headers: honoured only from the trusted proxies.

    uvicorn's default trusts ``X-Forwarded-For`` from 127.0.0.1, so a client behind a
    pass-through proxy on the same host could pick any address it likes.
    """
    trusted = list(trusted_proxies)
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None}


def client_address(request: Request, trusted_proxies: Sequence[str]) -> str:
    """The client's address: the peer's, or what a trusted proxy says it forwarded for.

    Walks ``X-Forwarded-For`` from the right (the hop nearest to us) past trusted
    proxies; any other peer's forwarded headers are ignored.
    """
    peer = request.client.host if request.client is not None else "unknown"
    networks = _networks(tuple(trusted_proxies))
    if not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _trusted(hop, networks):
            return hop
    return peer


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def _networks(
    trusted: tuple[str, ...],
) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in trusted)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
