"""``/metrics``: Prometheus' view of the bot, for the bearer of the metrics token only.

Without ``HELPDESK_METRICS_TOKEN`` the route answers 404 like any unknown path: the
counts say how busy the service is and which limits trip, which is not for everyone.
"""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.services import Services
from core.metrics import exposition
from core.models import CardView, MailStatus, OutboundMail


class Metrics:
    """The metrics route of one app."""

    def __init__(self, services: Services) -> None:
        self.services = services
        token = services.settings.metrics_token
        self.token = token.get_secret_value().encode() if token is not None else None

    def routes(self) -> list[Route]:
        return [Route("/metrics", self.metrics)]

    async def metrics(self, request: Request) -> Response:
        if self.token is None:
            return PlainTextResponse("Not Found", status_code=404)
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), self.token):
            return PlainTextResponse(
                "Unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return Response(exposition(await self.snapshot()), media_type=CONTENT_TYPE_LATEST)

    async def snapshot(self) -> list[tuple[str, str, float]]:
        """The gauges read from the database at scrape time (the same from any worker)."""
        now = self.services.clock.now()
        async with self.services.sessions() as session:
            queued, oldest = (
                await session.execute(
                    select(func.count(), func.min(OutboundMail.created_at)).where(
                        OutboundMail.status == MailStatus.QUEUED
                    )
                )
            ).one()
            failed = await session.scalar(
                select(func.count()).where(OutboundMail.status == MailStatus.FAILED)
            )
            cards = await session.scalar(
                select(func.count()).where(CardView.closed_at.is_(None), CardView.closes_at > now)
            )
        if oldest is not None and oldest.tzinfo is None:  # func.min skips the column's type
            oldest = oldest.replace(tzinfo=now.tzinfo)
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        return [
            ("helpdesk_mail_queue_depth", "Mails queued and not yet sent.", float(queued)),
            ("helpdesk_mail_queue_oldest_seconds", "Age of the oldest queued mail.", age),
            (
                "helpdesk_mail_failed",
                "Mails that finally failed and were not sent.",
                float(failed or 0),
            ),
            (
                "helpdesk_card_views_open",
                "Alumni cards open in a chat, refreshing.",
                float(cards or 0),
            ),
        ]
