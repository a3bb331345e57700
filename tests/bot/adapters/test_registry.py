"""The web app serves any adapter, and ``helpdesk serve`` finds the platforms by registry."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator

import httpx
import pytest
import typer
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Route
from typer.testing import CliRunner

import bot.cli
from bot.adapters import base
from bot.adapters.base import Capabilities, configured, register, registered
from bot.engine import Engine
from bot.services import Services, build_services
from bot.types import Reply
from bot.web import create_app
from core.settings import Settings


class PagerAdapter:
    """A fifth platform as small as one can be: a route, a log of what happened."""

    channel = "pager"
    capabilities = Capabilities(
        edits_images=False,
        deletes_user_messages=False,
        max_buttons=3,
        max_label_length=10,
        max_text_length=160,
    )

    def __init__(self) -> None:
        self.events: list[str] = []
        self.sent: list[tuple[str, list[Reply]]] = []

    @classmethod
    def from_settings(cls, services: Services, engine: Engine) -> PagerAdapter | None:
        return cls() if services.profile.name == "demo" else None

    @classmethod
    def commands(cls) -> typer.Typer:
        group = typer.Typer()

        @group.command("page")
        def page() -> None:
            typer.echo("paged")

        return group

    def routes(self) -> list[BaseRoute]:
        async def hook(_request: Request) -> PlainTextResponse:
            return PlainTextResponse("pager hook")

        return [Route("/pager/hook", hook, methods=["POST"])]

    async def startup(self) -> None:
        self.events.append("startup")

    async def shutdown(self) -> None:
        self.events.append("shutdown")

    async def send(self, chat_id: str, replies: list[Reply]) -> None:
        self.sent.append((chat_id, replies))

    async def deliver_background(self) -> None:
        self.events.append("round")


@pytest.fixture
def pager_registered() -> Iterator[None]:
    register(PagerAdapter)
    try:
        yield
    finally:
        base._REGISTERED.pop("pager")
        importlib.reload(bot.cli)


async def test_the_web_app_serves_any_adapter_and_runs_its_lifecycle(
    services: Services,
) -> None:
    adapter = PagerAdapter()
    app = create_app(services, adapters=[adapter])
    async with app.router.lifespan_context(app):
        # Its delivery round runs as a periodic job of the app's queue.
        async with asyncio.timeout(30):
            while "round" not in adapter.events:  # noqa: ASYNC110 (the fake records rounds)
                await asyncio.sleep(0.02)
        assert adapter.events[0] == "startup"
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
        ) as client:
            response = await client.post("/pager/hook")
        assert response.text == "pager hook"
    assert adapter.events[0] == "startup" and adapter.events[-1] == "shutdown"
    assert set(adapter.events[1:-1]) == {"round"}


async def test_without_the_adapter_its_route_is_not_served(services: Services) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(services)), base_url="http://127.0.0.1"
    ) as client:
        assert (await client.post("/pager/hook")).status_code == 404


def test_the_registry_knows_every_platform_module() -> None:
    channels = [cls.channel for cls in registered()]
    assert {"telegram", "slack", "line"} <= set(channels)


async def test_serve_builds_only_the_adapters_whose_settings_are_given(
    settings: Settings,
) -> None:
    bare = build_services(settings)
    with_line = build_services(
        settings.model_copy(
            update={
                "line_channel_secret": SecretStr("line-secret"),
                "line_channel_access_token": SecretStr("line-token"),
            }
        )
    )
    try:
        assert [a.channel for a in configured(bare, Engine(bare))] == []
        built = configured(with_line, Engine(with_line))
        assert [a.channel for a in built] == ["line"]
        for adapter in built:
            await adapter.shutdown()
    finally:
        await bare.close()
        await with_line.close()


async def test_a_new_platform_is_served_and_gets_its_commands_by_registering_alone(
    services: Services, pager_registered: None
) -> None:
    served = configured(services, Engine(services))
    assert [a.channel for a in served] == ["pager"]

    # The ``helpdesk`` command adds each registered platform's group when it is built.
    cli = importlib.reload(bot.cli)
    result = CliRunner().invoke(cli.app, ["pager", "page"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "paged"
