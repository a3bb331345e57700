"""Images LINE fetches by HTTPS URL: stored briefly under an unguessable token.

LINE takes no uploaded image in a message, only a URL its servers fetch. The URL
holds a random 256-bit token and nothing else (no card number, no name); the database
keeps only the token's SHA-256, the PNG and when it expires, so any worker can serve
it and nothing outlives the code it shows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core.clock import Clock
from core.models import MediaFile

_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def store(
    sessions: async_sessionmaker[AsyncSession],
    content: bytes,
    *,
    expires_at: dt.datetime,
    content_type: str = "image/png",
) -> str:
    """Keep ``content`` until ``expires_at``; return the token of its URL."""
    token = secrets.token_urlsafe(32)
    async with sessions() as session, session.begin():
        session.add(
            MediaFile(
                token_hash=_hash(token),
                content=content,
                content_type=content_type,
                expires_at=expires_at,
            )
        )
    return token


async def load(
    sessions: async_sessionmaker[AsyncSession], token: str, *, now: dt.datetime
) -> MediaFile | None:
    """The stored file of ``token`` while it has not expired."""
    if not _TOKEN.fullmatch(token):
        return None
    async with sessions() as session:
        return await session.scalar(
            select(MediaFile).where(
                MediaFile.token_hash == _hash(token), MediaFile.expires_at > now
            )
        )


async def purge_expired(sessions: async_sessionmaker[AsyncSession], *, now: dt.datetime) -> int:
    """Delete expired files; return how many."""
    async with sessions() as session, session.begin():
        result = await session.execute(delete(MediaFile).where(MediaFile.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)


class MediaRoute:
    """GET /media/<token>.png: the file while it lasts, 404 before and after."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def routes(self) -> list[BaseRoute]:
        return [Route("/media/{token}.png", self.serve, methods=["GET", "HEAD"])]

    async def serve(self, request: Request) -> Response:
        found = await load(self.sessions, request.path_params["token"], now=self.clock.now())
        if found is None:
            return Response(status_code=404, headers=HEADERS)
        return Response(found.content, media_type=found.content_type, headers=HEADERS)
