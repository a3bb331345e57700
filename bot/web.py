"""The project's one ASGI app: health check now; reset pages and webhooks mount here."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.services import Services


def create_app(services: Services) -> Starlette:
    async def healthz(_request: Request) -> JSONResponse:
        try:
            async with services.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (OperationalError, DBAPIError, OSError):
            return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "profile": services.profile.name})

    return Starlette(routes=[Route("/healthz", healthz)])
