"""``/healthz`` (the process answers) and ``/readyz`` (database, schema, mail worker)."""

from __future__ import annotations

import dataclasses

from sqlalchemy import text

from bot.services import Services
from core.clock import FakeClock
from core.db import create_engine
from core.heartbeats import MAIL_JOB, beat
from tests.web_client import web_client


async def test_healthz_answers_ok_while_the_process_runs(services: Services) -> None:
    async with web_client(services) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "profile": "demo"}


async def test_healthz_stays_ok_with_the_database_down_so_workers_are_not_restarted(
    services: Services,
) -> None:
    broken = dataclasses.replace(
        services, engine=create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    )
    async with web_client(broken) as http:
        response = await http.get("/healthz")
    await broken.engine.dispose()
    assert response.status_code == 200


async def test_readyz_is_ready_with_the_database_at_head_and_the_mail_worker_seen(
    services: Services, clock: FakeClock
) -> None:
    await beat(services.sessions, MAIL_JOB, clock.now())
    clock.advance(seconds=30)
    async with web_client(services) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "database": "ok",
        "migrations": "head",
        "mail_worker": "ok",
    }


async def test_readyz_is_not_ready_when_no_mail_worker_was_seen_lately(
    services: Services, clock: FakeClock
) -> None:
    async with web_client(services) as http:
        never = await http.get("/readyz")
        await beat(services.sessions, MAIL_JOB, clock.now())
        clock.advance(minutes=10)
        stale = await http.get("/readyz")
    assert never.status_code == 503 and never.json()["mail_worker"] == "never seen"
    assert stale.status_code == 503 and stale.json()["mail_worker"] == "last seen 600 s ago"


async def test_readyz_is_not_ready_before_the_database_is_upgraded(
    services: Services, clock: FakeClock
) -> None:
    await beat(services.sessions, MAIL_JOB, clock.now())
    async with services.engine.begin() as connection:
        head = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        await connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        async with web_client(services) as http:
            response = await http.get("/readyz")
    finally:  # on PostgreSQL the database is shared by the session's tests
        async with services.engine.begin() as connection:
            await connection.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head}
            )
    assert response.status_code == 503
    assert response.json()["migrations"] == "not at head"


async def test_readyz_reports_503_when_the_database_is_unreachable(services: Services) -> None:
    broken = dataclasses.replace(
        services, engine=create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    )
    broken.sessions = type(services.sessions)(broken.engine)
    async with web_client(broken) as http:
        response = await http.get("/readyz")
    await broken.engine.dispose()
    assert response.status_code == 503
    assert response.json() == {"status": "not ready", "database": "down"}
