"""The web app's home page (its health checks: tests/bot/web/test_health.py)."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import httpx
import pytest

import bot.web
from bot.services import Services
from bot.web import create_app, install_log_redaction


async def test_the_home_page_names_the_institution_in_both_languages(services: Services) -> None:
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert "示範大學 帳號服務" in response.text and "Demo University" in response.text
    assert response.headers["referrer-policy"] == "no-referrer"


def test_request_logs_never_show_a_one_time_token(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    token = "Zk3v9Q-secret-token-value_0123456789abcdefghijk"
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            f"/password/{token}?lang=en",
            "1.1",
            200,
        )
    assert caplog.records and token not in caplog.text
    assert "/password/[redacted]?lang=en" in caplog.text


def test_no_web_module_imports_a_chat_flow() -> None:
    web = Path(bot.web.__file__).parent
    flows = [
        f"{path.name} imports {name}"
        for path in sorted(web.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
        )
        if name.startswith("bot.conversations")
    ]
    assert flows == []
