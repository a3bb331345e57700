"""What every page of the web app shares for safety: headers, CSRF and log redaction."""

from __future__ import annotations

import hmac
import logging
import re

from starlette.requests import Request

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


TOKEN_IN_PATH = re.compile(r"(/password/)[^/\s?\"]+")


class RedactTokens(logging.Filter):
    """Hide one-time tokens in logged request lines (uvicorn's access log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(a) for a in record.args)
        record.msg = TOKEN_IN_PATH.sub(r"\1[redacted]", str(record.msg))
        return True


def _redacted(arg: object) -> object:
    """The argument with any token hidden; an object (httpx logs a URL) becomes its text."""
    if isinstance(arg, int | float):
        return arg  # may be formatted with %d
    text = arg if isinstance(arg, str) else str(arg)
    redacted = TOKEN_IN_PATH.sub(r"\1[redacted]", text)
    return redacted if redacted != text else arg


def install_log_redaction() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "httpx"):
        logging.getLogger(name).addFilter(RedactTokens())
