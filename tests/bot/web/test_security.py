"""Log redaction: no library's logger shows a secret, at any level, on any handler."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.web.security import install_log_redaction

BOT_TOKEN = "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-wY"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
LINK = "Zk3v9Q-secret-token-value_0123456789abcdefghijk"
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What a handler added to the root logger, after the redaction was installed, shows."""
    install_log_redaction(SIGNING_SECRET)
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield text
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


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
    logging.getLogger(logger).debug(message, *args)
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
