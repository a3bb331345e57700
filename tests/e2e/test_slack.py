"""Slack end to end: real slack-bolt and slack-sdk, signed requests to our ASGI app, and a
stand-in Web API on loopback that checks every call against Slack's method descriptions
(tests/data/slack-web-api/); a violation fails the test (fixture ``slack_api``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.adapters.slack import SlackAdapter
from bot.engine import Engine
from bot.services import Services, build_services
from bot.web import create_app
from core.clock import FakeClock
from core.jobs import JobQueue
from core.models import ChatIdentity
from core.settings import Settings
from tests.e2e.stories import forget_the_password, look_up_the_student_id
from tests.factories import add_lin, issue_electronic_card
from tests.outbox import last_code
from tests.slack_queue import after_ack_done
from tests.slack_stub import WebApiStub, block_action, event_callback, form_payload, signed_headers
from tests.smtp import SmtpSink

pytest_plugins = ["tests.slack_fixtures"]

SIGNING_SECRET = "slack-signing-secret-0123456789"
USER, DM = "U0USER", "D0USER"
_ids = itertools.count(1)


class SlackUser:
    """A Slack user whose workspace posts signed events to our app, as Slack would."""

    def __init__(self, client: httpx.AsyncClient, stub: WebApiStub, jobs: JobQueue) -> None:
        self.client, self.stub, self.jobs = client, stub, jobs

    async def post(
        self, body: bytes, *, form: bool = False, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        content_type = "application/x-www-form-urlencoded" if form else "application/json"
        return await self.client.post(
            "/slack/events",
            content=body,
            headers={
                "Content-Type": content_type,
                **(headers or signed_headers(SIGNING_SECRET, body)),
            },
        )

    def message_event(self, text: str, channel: str = DM, kind: str = "im") -> tuple[bytes, str]:
        event_id = f"Ev{next(_ids):06d}"
        event = {
            "type": "message",
            "channel": channel,
            "channel_type": kind,
            "user": USER,
            "text": text,
            "ts": f"17000000{next(_ids):02d}.000100",
        }
        return json.dumps(event_callback(event, event_id)).encode(), event_id

    async def say(self, text: str) -> None:
        before = len(self.stub.calls)
        body, _ = self.message_event(text)
        assert (await self.post(body)).status_code == 200
        await self.settle(before)

    async def settle(self, before: int) -> None:
        """The request queues the work and acks: wait until the bot has answered and the
        queue's worker has finished the work (a turn may post several messages)."""
        await until(lambda: any(m.startswith("chat.") for m, _ in self.stub.calls[before:]))
        await after_ack_done(self.jobs)

    def button(self, label: str) -> tuple[str, str, str]:
        for method, params in reversed(self.stub.calls):
            if method not in ("chat.postMessage", "chat.update"):
                continue
            for block in params.get("blocks") or []:
                for element in block.get("elements", []) if block["type"] == "actions" else []:
                    if element["text"]["text"] == label:
                        return element["action_id"], element["value"], str(params.get("ts", "1.0"))
        raise AssertionError(f"no button {label!r}")

    async def press(self, label: str) -> None:
        action_id, value, ts = self.button(label)
        before = len(self.stub.calls)
        body = form_payload(block_action(USER, DM, action_id, value, ts))
        assert (await self.post(body, form=True)).status_code == 200
        await self.settle(before)

    def texts(self) -> str:
        return "\n".join(
            str(p.get("text", "")) for m, p in self.stub.calls if m == "chat.postMessage"
        )


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 (the stub records calls; no event to await)
            await asyncio.sleep(0.02)


@pytest.fixture
async def slack(
    slack_api: WebApiStub, settings: Settings, clock: FakeClock
) -> AsyncIterator[tuple[SlackUser, Services, SmtpSink, SlackAdapter]]:
    with SmtpSink() as sink:
        configured = settings.model_copy(
            update={
                "slack_bot_token": SecretStr("xoxb-test-token"),
                "slack_signing_secret": SecretStr(SIGNING_SECRET),
                "slack_api_url": slack_api.base_url,
                "smtp_host": "127.0.0.1",
                "smtp_port": sink.port,
            }
        )
        services = build_services(configured, clock=clock)
        adapter = SlackAdapter.build(services, Engine(services))
        transport = httpx.ASGITransport(app=create_app(services, adapters=[adapter]))
        await adapter.startup()  # the job queue and its worker (httpx runs no lifespan)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://ours") as client:
                yield SlackUser(client, slack_api, services.jobs), services, sink, adapter
        finally:
            await adapter.shutdown()
            await services.close()


async def _student(services: Services, **extra: Any) -> int:
    return (await add_lin(services, with_account=True, **extra)).id


async def test_id_lookup_with_buttons(slack: Any) -> None:
    user, services, *_ = slack
    await _student(services)
    await look_up_the_student_id(user, menu="menu")


async def test_the_slack_locale_picks_chinese(slack: Any) -> None:
    user, *_ = slack
    user.stub.users[USER] = {"locale": "zh-TW"}
    await user.say("menu")
    assert "請問需要什麼協助？" in user.texts()


async def test_forgot_password_link_arrives_by_smtp(slack: Any) -> None:
    user, services, sink, _ = slack
    await _student(services)
    await forget_the_password(user, services, sink, menu="menu")


async def test_linking_by_code_then_mailbox_status(slack: Any) -> None:
    user, services, *_ = slack
    await _student(services)
    await user.say("menu")
    await user.press("My mailbox status")
    await user.say("211300001")
    await user.say(await last_code(services))
    assert "a211300001@grad.demo.edu.tw\nWorking normally." in user.texts()


async def test_a_trusted_workspace_links_by_confirmed_email_without_a_code(slack: Any) -> None:
    user, services, *_ = slack
    person_id = await _student(services)
    chat = services.profile.chat.model_copy(update={"slack_trusted_teams": ["T0001"]})
    services.profile = services.profile.model_copy(update={"chat": chat})
    user.stub.users[USER] = {"email": "a211300001@grad.demo.edu.tw", "is_email_confirmed": True}
    await user.say("menu")
    await user.press("My mailbox status")
    assert "this chat is now linked" in user.texts()
    assert "Working normally." in user.texts()
    async with services.sessions() as session:
        identity = await session.scalar(
            select(ChatIdentity).where(ChatIdentity.platform_user_id == USER)
        )
    assert identity is not None and identity.person_id == person_id


async def test_an_untrusted_workspace_still_needs_the_code(slack: Any) -> None:
    user, services, *_ = slack
    await _student(services)
    user.stub.users[USER] = {"email": "a211300001@grad.demo.edu.tw", "is_email_confirmed": True}
    await user.say("menu")
    await user.press("My mailbox status")
    assert "6-digit code" in user.texts()


async def test_the_card_is_uploaded_and_refreshed_by_chat_update(
    slack: Any, clock: FakeClock
) -> None:
    user, services, _sink, adapter = slack
    person_id = await _student(services, name_en="Wang Da-Tong")
    await issue_electronic_card(services, person_id)
    await user.say("menu")
    await user.press("My alumni card")
    await user.say("211300001")
    await user.say(await last_code(services))

    def cards() -> list[dict[str, Any]]:
        calls = user.stub.calls
        return [p for m, p in calls if m == "chat.postMessage" and "Wang Da-Tong" in p["text"]]

    # The card follows the "linked" message after an upload: wait for it, not the first.
    await until(lambda: bool(cards()))
    posted = cards()
    assert len(posted) == 1 and posted[0]["blocks"][0]["type"] == "image"
    await user.press("Refresh now")
    assert len(user.stub.calls_to("chat.update")) == 1
    clock.advance(seconds=300)
    await adapter.deliver_background()
    updates = user.stub.calls_to("chat.update")
    assert len(updates) == 2 and updates[0]["ts"] == updates[1]["ts"]
    assert (
        updates[1]["blocks"][0]["slack_file"]["id"] != updates[0]["blocks"][0]["slack_file"]["id"]
    )


async def test_retried_deliveries_get_200_and_are_handled_once(slack: Any) -> None:
    user, *_ = slack
    body, _ = user.message_event("menu")
    statuses = []
    for retry in (None, "1", "2"):
        headers = signed_headers(SIGNING_SECRET, body)
        if retry:
            headers |= {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"}
        statuses.append((await user.post(body, headers=headers)).status_code)
    await until(lambda: "Demo University" in user.texts())
    await asyncio.sleep(0.3)
    assert statuses == [200, 200, 200]
    assert user.texts().count("Demo University") == 1


async def test_unsigned_or_badly_signed_requests_get_401(slack: Any) -> None:
    user, *_ = slack
    body, _ = user.message_event("menu")
    unsigned = await user.client.post(
        "/slack/events", content=body, headers={"Content-Type": "application/json"}
    )
    forged = await user.post(body, headers=signed_headers("not-the-secret", body))
    stale = await user.post(
        body, headers=signed_headers(SIGNING_SECRET, body, timestamp=1_600_000_000)
    )
    assert [unsigned.status_code, forged.status_code, stale.status_code] == [401, 401, 401]
    await asyncio.sleep(0.1)
    assert user.stub.calls_to("chat.postMessage") == []


async def test_a_mention_in_a_channel_points_to_a_direct_message(slack: Any) -> None:
    user, *_ = slack
    event = {
        "type": "app_mention",
        "channel": "C0GENERAL",
        "user": USER,
        "text": "<@U0BOT> help",
        "ts": "1700000000.000300",
    }
    body = json.dumps(event_callback(event, "EvMention")).encode()
    assert (await user.post(body)).status_code == 200
    await until(lambda: bool(user.stub.calls_to("chat.postMessage")))
    (sent,) = user.stub.calls_to("chat.postMessage")
    assert sent["channel"] == "C0GENERAL" and "direct message" in sent["text"]


async def test_a_pasted_password_gets_how_to_delete_it(slack: Any) -> None:
    user, *_ = slack
    await user.say("menu")
    await user.press("I forgot my password")
    await user.say("Tr0ub4dor&3x")
    assert "Never send a password" in user.texts()
    assert "Delete message" in user.texts()


async def _chunks(sent: list[int], size: int, count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        sent.append(size)
        yield b"x" * size


async def test_an_oversized_body_gets_413_before_it_is_read_whole(slack: Any) -> None:
    user, *_ = slack
    declared = await user.client.post(
        "/slack/events",
        content=b"{" + b" " * (2 << 20) + b"}",
        headers={"Content-Type": "application/json"},
    )
    sent: list[int] = []
    # No Content-Length (chunked): reading stops at the cap, the rest is never pulled.
    streamed = await user.client.post(
        "/slack/events",
        content=_chunks(sent, 64 * 1024, 64),
        headers={"Content-Type": "application/json"},
    )
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert sum(sent) <= (1 << 20) + 64 * 1024 < 64 * 64 * 1024


async def test_signed_bodies_that_do_not_parse_get_400_without_a_traceback(
    slack: Any, caplog: pytest.LogCaptureFixture
) -> None:
    user, *_ = slack
    bodies = [b'{"type": "event_callback", "event": ', b"[" * 100_000, b"[1, 2]"]
    statuses = [(await user.post(body)).status_code for body in bodies]
    # Not UTF-8: Slack never sends it, and no signature over it can be checked.
    statuses.append((await user.post(b"\xff\xfe", headers=signed_headers("x", b"a"))).status_code)
    form = form_payload({}).replace(b"%7B%7D", b"%5B" * 50_000)  # payload=[[[...
    statuses.append((await user.post(form, form=True)).status_code)
    assert statuses == [400] * 5
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert user.stub.calls == []


async def test_a_non_numeric_timestamp_gets_400_and_a_missing_one_401(slack: Any) -> None:
    user, *_ = slack
    body, _ = user.message_event("menu")
    signed = signed_headers(SIGNING_SECRET, body)
    garbled = await user.post(body, headers=signed | {"X-Slack-Request-Timestamp": "soon"})
    missing = await user.post(body, headers={"X-Slack-Signature": signed["X-Slack-Signature"]})
    assert (garbled.status_code, missing.status_code) == (400, 401)


async def test_an_unsigned_body_is_refused_before_it_is_parsed(slack: Any) -> None:
    user, *_ = slack
    response = await user.client.post(
        "/slack/events", content=b"[" * 100_000, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401


async def test_the_slack_locale_reaches_mentions_and_button_presses(slack: Any) -> None:
    user, *_ = slack
    user.stub.users[USER] = {"locale": "zh-TW"}
    mention = {
        "type": "app_mention",
        "channel": "C0GENERAL",
        "user": USER,
        "text": "<@U0BOT> help",
        "ts": "1700000000.000400",
    }
    body = json.dumps(event_callback(mention, "EvMentionZh")).encode()
    assert (await user.post(body)).status_code == 200
    await until(lambda: "請直接私訊我" in user.texts())
    await user.say("menu")
    await user.press("查詢學號")
    assert "請選擇您錄取的學制" in user.texts()


async def test_no_slack_token_or_signing_secret_is_logged_even_at_debug(
    slack: Any, caplog: pytest.LogCaptureFixture
) -> None:
    user, *_ = slack
    caplog.set_level(logging.DEBUG)
    await user.say("menu")
    await user.press("Look up my student ID")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "chat.postMessage" in logged  # slack-sdk did log its calls
    assert "xoxb-test-token" not in logged and SIGNING_SECRET not in logged
