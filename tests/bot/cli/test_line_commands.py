"""``helpdesk line set-webhook|rich-menu`` as a deployer runs them, against the stand-in."""

from __future__ import annotations

import asyncio
import os

from core.settings import Settings
from tests.e2e.test_console import HELPDESK
from tests.line_stub import ACCESS_TOKEN, LineApiStub

pytest_plugins = ["tests.line_fixtures"]


async def helpdesk(settings: Settings, stub: LineApiStub, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "HELPDESK_HOME": str(settings.home),
        "HELPDESK_PROFILE": "demo",
        "HELPDESK_SECRET_KEY": settings.secret_key.get_secret_value()
        if settings.secret_key
        else "",
        "HELPDESK_LINE_CHANNEL_SECRET": "line-channel-secret",
        "HELPDESK_LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
        "HELPDESK_LINE_API_URL": stub.base_url,
        "HELPDESK_LINE_DATA_API_URL": stub.base_url,
        "COLUMNS": "200",
    }
    process = await asyncio.create_subprocess_exec(
        HELPDESK,
        "line",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(120):
        output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_set_webhook_registers_and_tests_the_endpoint(
    settings: Settings, line_api: LineApiStub
) -> None:
    url = "https://helpdesk.demo.edu.tw/line/webhook"
    code, output = await helpdesk(settings, line_api, "set-webhook", url)
    assert code == 0, output
    assert f"Webhook set to {url} and tested by LINE" in output
    assert line_api.webhook_endpoint == url


async def test_rich_menu_uploads_a_menu_per_language_and_sets_the_chinese_one_as_default(
    settings: Settings, line_api: LineApiStub
) -> None:
    code, output = await helpdesk(settings, line_api, "rich-menu")
    assert code == 0, output
    assert len(line_api.rich_menus) == 2 and len(line_api.images) == 2
    assert f"zh_TW: {line_api.default_menu}" in output
