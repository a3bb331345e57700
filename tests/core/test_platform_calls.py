"""core.metrics.platform_trace: platform API calls counted by result, reading no URL."""

from __future__ import annotations

import aiohttp
from prometheus_client import REGISTRY

from core.metrics import platform_trace
from tests.telegram_stub import BotApiStub

pytest_plugins = ["tests.telegram_fixtures"]


def calls(result: str) -> float:
    labels = {"platform": "telegram", "result": result}
    return REGISTRY.get_sample_value("helpdesk_platform_api_calls_total", labels) or 0.0


async def test_calls_errors_and_429s_are_counted_per_platform(bot_api: BotApiStub) -> None:
    before = {result: calls(result) for result in ("ok", "error", "rate_limited")}
    bot_api.fail_next("sendMessage", 429, retry_after=1)
    bot_api.fail_next("sendMessage", 403)
    url = f"{bot_api.base_url}123456:token"
    async with aiohttp.ClientSession(trace_configs=[platform_trace("telegram")]) as session:
        for method, data in [
            ("getMe", {}),
            ("sendMessage", {"chat_id": "1", "text": "a"}),
            ("sendMessage", {"chat_id": "1", "text": "b"}),
        ]:
            async with session.post(f"{url}/{method}", data=data) as response:
                await response.read()
        try:
            async with session.post("http://127.0.0.1:1/nothing-listens"):
                pass
        except aiohttp.ClientError:
            pass
    assert calls("ok") - before["ok"] == 1
    assert calls("rate_limited") - before["rate_limited"] == 1
    assert calls("error") - before["error"] == 2
