"""Every configured secret, the LINE channel's included, is hidden from the log."""

from __future__ import annotations

import io
import logging

from pydantic import SecretStr

from bot.services import build_services
from bot.web import create_app
from bot.web.security import configured_secrets
from core.settings import Settings

CHANNEL_SECRET = "5f3c1a9e7b2d4c6e8a0b1c2d3e4f5a6b"
ACCESS_TOKEN = "Zr7Yq2LxW9pN4sK8vB3mT6hJ1cF5dG0aE+uI/oP=="


def with_line(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "line_channel_secret": SecretStr(CHANNEL_SECRET),
            "line_channel_access_token": SecretStr(ACCESS_TOKEN),
        }
    )


def test_the_line_channel_secret_and_access_token_are_configured_secrets(
    settings: Settings,
) -> None:
    secrets = configured_secrets(with_line(settings))
    assert CHANNEL_SECRET in secrets and ACCESS_TOKEN in secrets


async def test_the_line_access_token_in_a_library_debug_line_is_hidden(settings: Settings) -> None:
    services = build_services(with_line(settings))
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    sdk = logging.getLogger("linebot.v3.messaging.rest")
    sdk.addHandler(handler)
    level = sdk.level
    sdk.setLevel(logging.DEBUG)
    try:
        create_app(services)  # installs the redaction with the configured secrets
        sdk.debug("request headers: %s", {"Authorization": f"Bearer {ACCESS_TOKEN}"})
        sdk.debug("signature key %s", CHANNEL_SECRET)
    finally:
        sdk.removeHandler(handler)
        sdk.setLevel(level)
        await services.close()
    shown = text.getvalue()
    assert "Authorization" in shown and "signature key" in shown
    assert ACCESS_TOKEN not in shown and CHANNEL_SECRET not in shown
