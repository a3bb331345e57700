"""Liveness and readiness for the orchestrator or load balancer: ``/healthz``, ``/readyz``.

``/healthz`` says the process answers, nothing more, so a database outage does not
get every worker restarted. ``/readyz`` says whether this worker can serve: the
database answers, its schema is at this code's migration head, and a mail queue
worker finished a round recently. Each is one cheap query or none.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.services import Services
from core import migrate
from core.heartbeats import MAIL_JOB, last_seen

# The mail queue runs every 2 seconds and beats every 30: three missed beats is a stop.
WORKER_SEEN_WITHIN = dt.timedelta(minutes=2)


class Health:
    """The two health routes of one app."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.heads = migrate.heads(services.settings.sqlalchemy_url)

    def routes(self) -> list[Route]:
        return [Route("/healthz", self.healthz), Route("/readyz", self.readyz)]

    async def healthz(self, _request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "profile": self.services.profile.name})

    async def readyz(self, _request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            async with self.services.sessions() as session:
                rows = await session.execute(text("SELECT version_num FROM alembic_version"))
                revisions = {row[0] for row in rows}
                seen = await last_seen(session, MAIL_JOB)
        except (OperationalError, DBAPIError, OSError):
            checks["database"] = "down"
        else:
            checks["database"] = "ok"
            checks["migrations"] = "head" if revisions == self.heads else "not at head"
            if seen is None:
                checks["mail_worker"] = "never seen"
            else:
                age = self.services.clock.now() - seen
                fresh = age <= WORKER_SEEN_WITHIN
                checks["mail_worker"] = (
                    "ok" if fresh else f"last seen {int(age.total_seconds())} s ago"
                )
        ready = checks.get("migrations") == "head" and checks.get("mail_worker") == "ok"
        return JSONResponse(
            {"status": "ready" if ready else "not ready", **checks},
            status_code=200 if ready else 503,
        )
