"""helpdesk_platform_api_calls_total counts each adapter's calls to its platform's API.

Against the stand-ins on 127.0.0.1: a delivered message counts as ok, a 429 as
rate_limited (and its retry as ok again).
"""

from __future__ import annotations

from prometheus_client import REGISTRY
from pydantic import SecretStr

from bot.adapters.line import LineAdapter
from bot.adapters.slack import SlackAdapter
from bot.adapters.telegram import TelegramAdapter
from bot.engine import Engine
from bot.services import build_services
from bot.types import Text
from core.clock import FakeClock
from core.settings import Settings
from tests.line_stub import ACCESS_TOKEN, LineApiStub
from tests.platform_settings import with_slack, with_telegram
from tests.slack_stub import WebApiStub
from tests.telegram_stub import BotApiStub

pytest_plugins = ["tests.telegram_fixtures", "tests.slack_fixtures", "tests.line_fixtures"]


def _calls(platform: str, result: str) -> float:
    value = REGISTRY.get_sample_value(
        "helpdesk_platform_api_calls_total", {"platform": platform, "result": result}
    )
    return value or 0.0


async def test_telegram_calls_are_counted_with_a_429_as_rate_limited(
    bot_api: BotApiStub, settings: Settings, clock: FakeClock
) -> None:
    configured = with_telegram(settings, bot_api)
    services = build_services(configured, clock=clock)
    adapter = TelegramAdapter.build(services, Engine(services))
    await adapter.startup()
    try:
        ok, limited = _calls("telegram", "ok"), _calls("telegram", "rate_limited")
        await adapter.send("5", [Text("Hello")])
        assert _calls("telegram", "ok") >= ok + 1
        ok = _calls("telegram", "ok")
        bot_api.fail_next("sendMessage", 429, retry_after=1)
        await adapter.send("5", [Text("Hello again")])
        assert _calls("telegram", "rate_limited") == limited + 1
        assert _calls("telegram", "ok") >= ok + 1  # the retry
    finally:
        await adapter.shutdown()
        await services.close()
    assert [c["text"] for c in bot_api.calls_to("sendMessage")][-1] == "Hello again"


async def test_slack_calls_are_counted_once_the_adapter_has_started(
    slack_api: WebApiStub, settings: Settings, clock: FakeClock
) -> None:
    configured = with_slack(settings, slack_api)
    services = build_services(configured, clock=clock)
    adapter = SlackAdapter.build(services, Engine(services))
    await adapter.startup()
    try:
        ok, limited = _calls("slack", "ok"), _calls("slack", "rate_limited")
        await adapter.send("D0USER", [Text("Hello")])
        assert _calls("slack", "ok") == ok + 1
        slack_api.fail_next("chat.postMessage", "ratelimited", retry_after=1)
        await adapter.send("D0USER", [Text("Hello again")])
        assert _calls("slack", "rate_limited") == limited + 1
        assert _calls("slack", "ok") == ok + 2
    finally:
        await adapter.shutdown()
        await services.close()
    assert len(slack_api.calls_to("chat.postMessage")) == 3


async def test_line_calls_are_counted(
    line_api: LineApiStub, settings: Settings, clock: FakeClock
) -> None:
    configured = settings.model_copy(
        update={
            "line_channel_secret": SecretStr("line-channel-secret-0123456789"),
            "line_channel_access_token": SecretStr(ACCESS_TOKEN),
            "line_api_url": line_api.base_url,
            "line_data_api_url": line_api.base_url,
        }
    )
    services = build_services(configured, clock=clock)
    adapter = LineAdapter.build(services, Engine(services))
    try:
        ok = _calls("line", "ok")
        await adapter.send("U" + "1" * 32, [Text("Hello")])
        assert _calls("line", "ok") > ok
    finally:
        await adapter.shutdown()
        await services.close()
    assert "Hello" in line_api.texts()
