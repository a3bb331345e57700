"""Web security: log redaction at every level, body caps and deadline, headers, proxies."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send
from uvicorn.logging import AccessFormatter

from bot.services import Services
from bot.web import create_app
from bot.web.security import (
    RedactSecrets,
    RequestGuard,
    client_address,
    install_log_redaction,
    server_options,
)
from tests.bot.web.conftest import SIGNING_SECRET

BOT_TOKEN = "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-wY"
LINK = "Zk3v9Q-secret-token-value_0123456789abcdefghijk"
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"


@pytest.mark.parametrize(
    ("logger", "message", "args", "secret", "shown"),
    [
        (
            "httpx",
            'HTTP Request: %s %s "%s"',
            ("POST", f"https://api.telegram.org/bot{BOT_TOKEN}/getUpdates", "HTTP/1.1 200 OK"),
            BOT_TOKEN.split(":")[1],
            "/bot123456789:[redacted]/getUpdates",
        ),
        (
            "slack_sdk.web.async_base_client",
            "Sending a request - headers: %s",
            ({"Authorization": "Bearer xoxb-1234-5678-AbCdEfGhIjKl"},),
            "AbCdEfGhIjKl",
            "xoxb-[redacted]",
        ),
        (
            "slack_bolt.App",
            "socket mode with %s",
            ("xapp-1-A0123-456-abcdef0123456789",),
            "abcdef0123456789",
            "xapp-[redacted]",
        ),
        ("slack_bolt.App", "signature key %s", (SIGNING_SECRET,), SIGNING_SECRET, "[redacted]"),
        (
            "uvicorn.access",
            '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5000", "GET", f"/password/{LINK}?lang=en", "1.1", 200),
            LINK,
            "/password/[redacted]?lang=en",
        ),
        (
            "asyncpg.protocol",
            "executing %s",
            (f"INSERT INTO outbound_mail VALUES ('Your code is 482913. Type it', '{HASH}')",),
            "482913",
            "Your code is [redacted]",
        ),
        ("asyncpg.pool", "params %r", ((HASH,),), "RdescudvJCsgt3ub", "$argon2[redacted]"),
        ("core.mail", "body %s", ("您的驗證碼是 482913。",), "482913", "驗證碼是 [redacted]"),
    ],
    ids=[
        "telegram-url",
        "slack-bot-token",
        "slack-app-token",
        "signing-secret",
        "link",
        "code",
        "argon2",
        "code-zh",
    ],
)
def test_a_secret_logged_by_any_library_at_debug_is_hidden(
    logged: io.StringIO,
    logger: str,
    message: str,
    args: tuple[object, ...],
    secret: str,
    shown: str,
) -> None:
    # An in-process uvicorn earlier in the run configures its own loggers ("uvicorn" and
    # "uvicorn.access": INFO, propagate off): this test is about the redaction, so the
    # record must reach the root whatever ran before.
    parts = logger.split(".")
    chain = [logging.getLogger(".".join(parts[:n])) for n in range(1, len(parts) + 1)]
    saved = [(log.propagate, log.level, log.disabled) for log in chain]
    for log in chain:
        log.propagate, log.level, log.disabled = True, logging.NOTSET, False
    try:
        logging.getLogger(logger).debug(message, *args)
    finally:
        for log, (propagate, level, disabled) in zip(chain, saved, strict=True):
            log.propagate, log.level, log.disabled = propagate, level, disabled
    assert secret not in logged.getvalue()
    assert shown in logged.getvalue()


def test_a_secret_in_a_traceback_is_hidden(logged: io.StringIO) -> None:
    try:
        raise ConnectionError(f"cannot reach https://api.telegram.org/bot{BOT_TOKEN}/getMe")
    except ConnectionError:
        logging.getLogger("telegram.ext.Updater").exception("network error")
    assert "network error" in logged.getvalue() and "ConnectionError" in logged.getvalue()
    assert BOT_TOKEN.split(":")[1] not in logged.getvalue()


def test_a_logger_that_does_not_propagate_is_covered_too() -> None:
    install_log_redaction()
    text = io.StringIO()
    own = logging.getLogger("uvicorn.access.probe")
    own.propagate = False
    own.addHandler(logging.StreamHandler(text))
    try:
        own.warning("GET /password/%s", LINK)
    finally:
        own.propagate = True
        own.handlers.clear()
    assert LINK not in text.getvalue() and "/password/[redacted]" in text.getvalue()


def test_the_filter_sits_on_the_root_handlers() -> None:
    handler = logging.StreamHandler(io.StringIO())
    logging.getLogger().addHandler(handler)
    try:
        install_log_redaction()
        assert any(type(f).__name__ == "RedactSecrets" for f in handler.filters)
    finally:
        logging.getLogger().removeHandler(handler)


def test_sql_parameters_stay_out_of_the_log_at_debug_unless_asked_for(
    logged: io.StringIO,
) -> None:
    logging.getLogger("aiosqlite").debug("executing %s", "INSERT ... ('typed answer probe',)")
    assert "typed answer probe" not in logged.getvalue()
    install_log_redaction(sql_parameters=True)
    try:
        logging.getLogger("aiosqlite").debug("executing %s", "INSERT ... ('typed answer probe',)")
        assert "typed answer probe" in logged.getvalue()
    finally:
        install_log_redaction()


# -- requests --------------------------------------------------------------------------


async def _echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    """A route that reads its whole body and says how long it was."""
    request = Request(scope, receive)
    body = await request.body()
    await PlainTextResponse(str(len(body)))(scope, receive, send)


def _guarded(**options: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=RequestGuard(_echo_length, **options))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")


async def test_a_body_over_the_routes_cap_gets_413_before_the_route_reads_it() -> None:
    async with _guarded() as client:
        declared = await client.post("/password/abc", content=b"x" * (20 * 1024))
        webhook = await client.post("/telegram/webhook", content=b"x" * (2 * 1024 * 1024))
        fine = await client.post("/password/abc", content=b"x" * 1000)

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            for _ in range(40):
                yield b"x" * 1024

        chunked = await client.post("/password/abc", content=chunks())
    assert (declared.status_code, webhook.status_code, chunked.status_code) == (413, 413, 413)
    assert fine.status_code == 200 and fine.text == "1000"


async def test_a_body_trickled_slower_than_the_deadline_gets_408() -> None:
    sent: list[Message] = []
    messages = [{"type": "http.request", "body": b"x", "more_body": True}]

    async def trickle() -> Message:
        if messages:
            return messages.pop()
        await asyncio.sleep(3600)  # the rest never comes
        raise AssertionError

    async def record(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/card/verify",
        "headers": [],
        "query_string": b"",
    }
    async with asyncio.timeout(5):
        await RequestGuard(_echo_length, timeout=0.2)(scope, trickle, record)
    assert sent[0]["status"] == 408


async def test_every_html_page_gets_the_security_headers_and_hsts_under_https(
    services: Services,
) -> None:
    services.settings.public_url = "https://helpdesk.example.edu.tw"
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        index = await client.get("/")
        health = await client.get("/healthz")
    assert index.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in index.headers["content-security-policy"]
    assert index.headers["strict-transport-security"] == "max-age=31536000"
    assert health.headers["strict-transport-security"] == "max-age=31536000"


async def test_no_hsts_over_plain_http(services: Services) -> None:
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        index = await client.get("/")
    assert "strict-transport-security" not in index.headers


def _request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "headers": headers, "client": (peer, 5000)})


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("127.0.0.1", "203.0.113.9", [], "127.0.0.1"),  # no proxy trusted: the default
        ("198.51.100.7", "203.0.113.9", ["10.0.0.0/8"], "198.51.100.7"),  # not our proxy
        ("10.0.0.2", "203.0.113.9", ["10.0.0.0/8"], "203.0.113.9"),
        ("10.0.0.2", "1.2.3.4, 203.0.113.9", ["10.0.0.0/8"], "203.0.113.9"),  # spoofed left
        ("10.0.0.2", "203.0.113.9, 10.0.0.5", ["10.0.0.0/8"], "203.0.113.9"),
        ("10.0.0.2", None, ["10.0.0.0/8"], "10.0.0.2"),
    ],
)
def test_forwarded_addresses_are_believed_only_from_trusted_proxies(
    peer: str, forwarded: str | None, trusted: list[str], client: str
) -> None:
    assert client_address(_request(peer, forwarded), trusted) == client


def test_uvicorn_honours_forwarded_headers_only_when_a_proxy_is_trusted() -> None:
    assert server_options([]) == {"proxy_headers": False, "forwarded_allow_ips": None}
    assert server_options(["10.0.0.1"]) == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["10.0.0.1"],
    }


def test_uvicorns_access_lines_are_redacted_and_still_formatted() -> None:
    """uvicorn's access formatter unpacks the record's arguments: they stay a tuple."""
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/password/{LINK}", "1.1", 200),
        None,
    )
    assert RedactSecrets().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(record)
    assert line == '127.0.0.1:5000 - "GET /password/[redacted] HTTP/1.1" 200 OK'


def test_a_secret_an_argument_prints_is_redacted_with_the_whole_message() -> None:
    class Url:
        def __str__(self) -> str:
            return f"https://campus.example/password/{LINK}"

    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "GET %s", (Url(),), None)
    assert RedactSecrets().filter(record)
    assert record.getMessage() == "GET https://campus.example/password/[redacted]"
