"""``/metrics``: the counts operators watch, only for the bearer of the metrics token."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from bot.services import Services
from core.clock import FakeClock
from core.mail import enqueue
from tests.chat import Chat
from tests.factories import add_lin
from tests.web_client import web_client

TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def metered(services: Services) -> None:
    services.settings.metrics_token = SecretStr(TOKEN)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(services: Services) -> Samples:
    async with web_client(services) as http:
        response = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_are_not_served_without_a_configured_token(services: Services) -> None:
    async with web_client(services) as http:
        response = await http.get("/metrics")
    assert response.status_code == 404


@pytest.mark.usefixtures("metered")
async def test_metrics_refuse_a_missing_or_wrong_token(services: Services) -> None:
    async with web_client(services) as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert missing.status_code == wrong.status_code == 401
    assert "helpdesk_turns" not in missing.text + wrong.text


@pytest.mark.usefixtures("metered")
async def test_turns_are_counted_by_channel_flow_and_outcome_and_timed(
    services: Services, chat: Chat
) -> None:
    await add_lin(services)
    before = await scrape(services)
    await chat.say("/start")
    await chat.press("Look up my student ID")
    await chat.press("Master's programme")
    await chat.say("F131104093")
    await chat.say("1996-01-02")
    assert "211300001" in chat.text()
    after = await scrape(services)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("helpdesk_turns_total", channel="test", flow="student_id", outcome="handled") == 4
    assert grew("helpdesk_turns_total", channel="test", flow="menu", outcome="handled") == 1
    assert grew("helpdesk_turn_seconds_count", channel="test") == 5
    assert grew("helpdesk_lookups_total", result="matched") == 1
    assert grew("helpdesk_lookups_total", result="not_matched") == 0


@pytest.mark.usefixtures("metered")
async def test_a_redelivered_update_counts_as_a_duplicate(services: Services, chat: Chat) -> None:
    before = await scrape(services)
    update = chat.incoming(text="/start", delivery_id="update-1")
    await chat.send(update)
    await chat.send(update)
    after = await scrape(services)
    labels = {"channel": "test", "flow": "none", "outcome": "duplicate"}
    name = "helpdesk_turns_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 1


@pytest.mark.usefixtures("metered")
async def test_the_mail_queue_depth_and_age_are_read_at_scrape_time(
    services: Services, clock: FakeClock
) -> None:
    async with services.sessions() as session, session.begin():
        enqueue(session, to="a@example.org", subject="s", body="b", now=clock.now())
        clock.advance(seconds=30)
        enqueue(session, to="b@example.org", subject="s", body="b", now=clock.now())
    clock.advance(seconds=60)
    samples = await scrape(services)
    assert value(samples, "helpdesk_mail_queue_depth") == 2
    assert value(samples, "helpdesk_mail_queue_oldest_seconds") == 90
    assert value(samples, "helpdesk_card_views_open") == 0


@pytest.mark.usefixtures("metered")
async def test_connections_in_use_are_the_ones_checked_out_of_the_pool(services: Services) -> None:
    idle = value(await scrape(services), "helpdesk_db_connections_in_use")
    async with services.engine.connect():
        busy = value(await scrape(services), "helpdesk_db_connections_in_use")
    assert busy - idle == 1
