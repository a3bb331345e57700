"""A browser of the web app over a given ``Services`` (the ``client`` fixture's, for a
test that needs it over altered services, such as a broken database)."""

from __future__ import annotations

import httpx

from bot.services import Services
from bot.web import create_app


def web_client(services: Services) -> httpx.AsyncClient:
    """An in-process client of the web app (no chat adapters) over ``services``."""
    transport = httpx.ASGITransport(app=create_app(services))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
