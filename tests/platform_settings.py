"""Settings that point an adapter at its stand-in API on 127.0.0.1."""

from __future__ import annotations

from pydantic import SecretStr

from core.settings import Settings
from tests.slack_stub import WebApiStub
from tests.telegram_stub import BotApiStub

TELEGRAM_TOKEN = "123456:TEST-token"
SLACK_BOT_TOKEN = "xoxb-test-token"
SLACK_SIGNING_SECRET = "signing-secret"


def with_telegram(settings: Settings, bot_api: BotApiStub, *, secret: str = "s" * 24) -> Settings:
    return settings.model_copy(
        update={
            "telegram_token": SecretStr(TELEGRAM_TOKEN),
            "telegram_secret": SecretStr(secret),
            "telegram_api_url": bot_api.base_url,
        }
    )


def with_slack(settings: Settings, slack_api: WebApiStub) -> Settings:
    return settings.model_copy(
        update={
            "slack_bot_token": SecretStr(SLACK_BOT_TOKEN),
            "slack_signing_secret": SecretStr(SLACK_SIGNING_SECRET),
            "slack_api_url": slack_api.base_url,
        }
    )
