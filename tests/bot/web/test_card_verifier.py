"""The alumni card verifier (DESIGN.md flow 6): JSON endpoint, HTML page, limits, audit."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from bot.services import Services
from bot.web import card_verifier, create_app
from core.cards import CardCipher, code_for, issue_card, make_payload, step_at
from core.clock import FakeClock
from core.models import AlumniCard, AuditEvent, CardStatus
from tests.factories import add_student


@pytest.fixture
async def card(services: Services) -> tuple[int, str]:
    """An active card of 林明志 (seed 003's digital alumni card): its id and secret."""
    person = await add_student(
        services, id_number="F131104093", birthday=dt.date(1996, 1, 2), student_id="109205003"
    )
    cipher = CardCipher(services.settings.card_fernet_key)
    async with services.sessions() as session, session.begin():
        row = await issue_card(
            session,
            cipher,
            person_id=person.id,
            card_type="electronic",
            valid_until=dt.date(2030, 12, 31),
            now=services.clock.now(),
        )
        assert row.secret_encrypted is not None
        return row.id, cipher.decrypt(row.secret_encrypted)


def _payload(services: Services, card: tuple[int, str]) -> str:
    card_id, secret = card
    step = step_at(services.clock.now(), services.profile.card.refresh_seconds)
    return make_payload(card_id, step, code_for(secret, step))


async def _check(client: httpx.AsyncClient, payload: str) -> httpx.Response:
    return await client.post("/card/verify.json", json={"payload": payload})


async def _audit(services: Services) -> list[AuditEvent]:
    async with services.sessions() as session:
        return list((await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all())


# -- JSON --------------------------------------------------------------------------------


async def test_a_current_code_is_valid_with_the_name(
    client: httpx.AsyncClient, services: Services, card: tuple[int, str]
) -> None:
    response = await _check(client, _payload(services, card))
    assert response.status_code == 200
    assert response.json() == {
        "result": "valid",
        "name": "林明志",
        "name_en": "Lin Ming-Zhi",
        "card_type": "electronic",
        "valid_until": "2030-12-31",
    }
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers


async def test_a_second_scan_is_a_replay_without_the_name(
    client: httpx.AsyncClient, services: Services, card: tuple[int, str]
) -> None:
    payload = _payload(services, card)
    assert (await _check(client, payload)).json()["result"] == "valid"
    again = (await _check(client, payload)).json()
    assert again == {
        "result": "replayed",
        "name": None,
        "name_en": None,
        "card_type": None,
        "valid_until": None,
    }


async def test_old_revoked_and_unknown_codes(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, card: tuple[int, str]
) -> None:
    old = _payload(services, card)
    clock.advance(minutes=10)
    assert (await _check(client, old)).json()["result"] == "expired"
    assert (await _check(client, "HDC1.999.1.12345678")).json()["result"] == "unknown"
    assert (await _check(client, "not a card")).json()["result"] == "unknown"
    async with services.sessions() as session, session.begin():
        row = await session.get(AlumniCard, card[0])
        assert row is not None
        row.status = CardStatus.REVOKED
    revoked = (await _check(client, _payload(services, card))).json()
    assert revoked["result"] == "revoked" and revoked["name"] is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"payload=HDC1",
        b"{",
        b"\xff\xfe",
        b"[]",
        b'"HDC1.1.1.12345678"',
        b"{}",
        b'{"payload": 12345678}',
        b'{"payload": null}',
        b"[" * 1000,
        json.dumps({"payload": "x" * 2000}).encode(),
    ],
)
async def test_junk_bodies_get_400(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        "/card/verify.json", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {"error": "bad_request"}


async def test_a_body_over_1_kb_is_refused_even_when_streamed(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * 200

    response = await client.post("/card/verify.json", content=chunks())
    assert response.status_code == 400


async def test_each_client_address_gets_60_checks_a_minute(
    client: httpx.AsyncClient, services: Services, clock: FakeClock
) -> None:
    for _ in range(card_verifier.RATE_LIMIT):
        assert (await _check(client, "HDC1.1.1.12345678")).status_code == 200
    limited = await _check(client, "HDC1.1.1.12345678")
    assert limited.status_code == 429 and limited.json() == {"error": "rate_limited"}
    assert 1 <= int(limited.headers["retry-after"]) <= 61
    page = await client.post("/card/verify?lang=en", data={"payload": "HDC1.1.1.12345678"})
    assert page.status_code == 429 and "Too many checks" in page.text

    other = httpx.ASGITransport(app=create_app(services), client=("192.0.2.7", 4000))
    async with httpx.AsyncClient(transport=other, base_url="http://127.0.0.1") as elsewhere:
        assert (await _check(elsewhere, "HDC1.1.1.12345678")).status_code == 200

    clock.advance(seconds=61)
    assert (await _check(client, "HDC1.1.1.12345678")).status_code == 200


async def test_every_check_is_audited_without_the_payload_or_the_address(
    client: httpx.AsyncClient, services: Services, card: tuple[int, str]
) -> None:
    payload = _payload(services, card)
    await _check(client, payload)
    await _check(client, payload)
    await _check(client, "HDC1.999.1.12345678")
    events = await _audit(services)
    assert [(e.channel, e.flow, e.action, e.outcome) for e in events] == [
        ("web", "card", "verify", "valid"),
        ("web", "card", "verify", "replayed"),
        ("web", "card", "verify", "unknown"),
    ]
    assert len({e.actor for e in events}) == 1
    _, step, code = payload.rsplit(".", 2)
    for event in events:
        assert event.actor.startswith("verifier:")
        stored = json.dumps([event.actor, event.detail])
        for secret in (payload, code, step, "12345678", "127.0.0.1", card[1]):
            assert secret not in stored


# -- HTML --------------------------------------------------------------------------------


async def test_the_page_has_the_form_the_script_and_the_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/card/verify", headers={"Accept-Language": "en-US,en"})
    assert response.status_code == 200
    assert '<html lang="en">' in response.text
    assert '<form method="post"' in response.text and 'name="payload"' in response.text
    assert '<script src="/static/card_verify.js"></script>' in response.text
    assert 'id="scan" hidden' in response.text  # shown by the script where it can scan
    assert "<script>" not in response.text  # CSP: no inline script
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "set-cookie" not in response.headers
    script = await client.get("/static/card_verify.js")
    assert script.status_code == 200 and "BarcodeDetector" in script.text


async def test_the_page_follows_the_language_switch(client: httpx.AsyncClient) -> None:
    response = await client.get("/card/verify?lang=zh-TW")
    assert response.status_code == 200 and '<html lang="zh-Hant-TW">' in response.text
    assert 'action="/card/verify?lang=zh-TW"' in response.text


async def test_posting_a_code_shows_valid_and_the_name(
    client: httpx.AsyncClient, services: Services, card: tuple[int, str]
) -> None:
    payload = _payload(services, card)
    response = await client.post("/card/verify?lang=en", data={"payload": f" {payload}\n"})
    assert response.status_code == 200
    assert 'data-result="valid"' in response.text and ">Valid</h2>" in response.text
    assert "林明志" in response.text and "Lin Ming-Zhi" in response.text
    assert "2030-12-31" in response.text and "Electronic alumni card" in response.text
    assert payload not in response.text
    again = await client.post("/card/verify?lang=en", data={"payload": payload})
    assert 'data-result="replayed"' in again.text and "林明志" not in again.text


async def test_posting_junk_shows_not_recognised(client: httpx.AsyncClient) -> None:
    response = await client.post("/card/verify?lang=en", data={"payload": "<script>x</script>"})
    assert response.status_code == 200
    assert 'data-result="unknown"' in response.text and "Not recognised" in response.text
    assert "<script>x" not in response.text
    empty = await client.post("/card/verify?lang=en", data={})
    assert 'data-result="unknown"' in empty.text


async def test_posting_too_much_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/card/verify?lang=en", data={"payload": "x" * 5000})
    assert response.status_code == 400 and 'id="error"' in response.text


async def test_a_rotated_forwarded_for_does_not_dodge_the_limit_unless_from_a_trusted_proxy(
    client: httpx.AsyncClient, services: Services
) -> None:
    for n in range(card_verifier.RATE_LIMIT):
        forged = {"X-Forwarded-For": f"203.0.113.{n}"}
        response = await client.post(
            "/card/verify.json", json={"payload": "HDC1.1.1.12345678"}, headers=forged
        )
        assert response.status_code == 200
    forged = {"X-Forwarded-For": "198.51.100.1"}
    limited = await client.post(
        "/card/verify.json", json={"payload": "HDC1.1.1.12345678"}, headers=forged
    )
    assert limited.status_code == 429

    services.settings.trusted_proxies = ["127.0.0.1"]  # now the peer is our own proxy
    proxied = await client.post(
        "/card/verify.json", json={"payload": "HDC1.1.1.12345678"}, headers=forged
    )
    assert proxied.status_code == 200
