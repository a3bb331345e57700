"""A person to talk to, end to end (issue 21 §2): a student on Telegram, staff on Slack.

Real python-telegram-bot and slack-bolt against the Bot API and Web API stand-ins, each
checking every call against the platform's published description. The student asks in
zh-TW: one question goes to the ID lookup, one gets an FAQ answer, the third opens a case
that staff claim and answer in the case's Slack thread; the answer reaches Telegram, the
student's reply reaches the thread, staff close and the student rates.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.adapters.slack import SlackAdapter
from bot.adapters.telegram import TelegramAdapter
from bot.engine import Engine
from bot.services import Services, build_services
from bot.web import create_app
from core.clock import FakeClock
from core.jobs import JobQueue
from core.models import AuditEvent, Case, CaseStatus
from core.settings import Settings
from tests.e2e.test_telegram import TelegramUser
from tests.slack_queue import after_ack_done
from tests.slack_stub import WebApiStub, block_action, event_callback, form_payload, signed_headers
from tests.smtp import SmtpSink
from tests.telegram_stub import BotApiStub

pytest_plugins = ["tests.telegram_fixtures", "tests.slack_fixtures"]

TG_SECRET = "webhook-secret-0123456789"
SLACK_SECRET = "slack-signing-secret-0123456789"
STAFF_CHANNEL, STAFF = "C0STAFF", "U0STAFF"
_events = itertools.count(1)


class Staff:
    """A help desk member in the staff Slack channel: presses buttons, replies in threads."""

    def __init__(self, client: httpx.AsyncClient, stub: WebApiStub, jobs: JobQueue) -> None:
        self.client, self.stub, self.jobs = client, stub, jobs

    async def _post(self, body: bytes, content_type: str) -> None:
        headers = {"Content-Type": content_type, **signed_headers(SLACK_SECRET, body)}
        response = await self.client.post("/slack/events", content=body, headers=headers)
        assert response.status_code == 200
        # The request queues the work, then acks: wait until the queue's worker has done
        # it all (the work makes several calls and commits; its first call is not the end).
        await after_ack_done(self.jobs)

    def case_post(self) -> dict[str, Any]:
        """The newest case message the bot posted in the staff channel (not a thread reply)."""
        for (channel, _ts), message in reversed(self.stub.messages.items()):
            if channel == STAFF_CHANNEL and "thread_ts" not in message:
                return message
        raise AssertionError("no case in the staff channel")

    async def press(self, action_id: str) -> None:
        post = self.case_post()
        value = next(
            e["value"]
            for b in post["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == action_id
        )
        body = form_payload(block_action(STAFF, STAFF_CHANNEL, action_id, value, post["ts"]))
        await self._post(body, "application/x-www-form-urlencoded")

    async def reply(self, text: str) -> None:
        event = {
            "type": "message",
            "channel": STAFF_CHANNEL,
            "channel_type": "channel",
            "user": STAFF,
            "text": text,
            "ts": f"18000000{next(_events):02d}.000200",
            "thread_ts": self.case_post()["ts"],
        }
        body = json.dumps(event_callback(event, f"EvStaff{next(_events):04d}")).encode()
        await self._post(body, "application/json")

    def thread(self) -> list[str]:
        root = self.case_post()["ts"]
        return [
            str(params.get("text"))
            for method, params in self.stub.calls
            if method == "chat.postMessage" and params.get("thread_ts") == root
        ]


@pytest.fixture
async def desk(
    bot_api: BotApiStub, slack_api: WebApiStub, settings: Settings, clock: FakeClock
) -> AsyncIterator[tuple[TelegramUser, Staff, Services, TelegramAdapter, SlackAdapter]]:
    with SmtpSink() as sink:
        configured = settings.model_copy(
            update={
                "telegram_token": SecretStr("123456:TEST-token"),
                "telegram_secret": SecretStr(TG_SECRET),
                "telegram_api_url": bot_api.base_url,
                "slack_bot_token": SecretStr("xoxb-test-token"),
                "slack_signing_secret": SecretStr(SLACK_SECRET),
                "slack_api_url": slack_api.base_url,
                "smtp_host": "127.0.0.1",
                "smtp_port": sink.port,
            }
        )
        services = build_services(configured, clock=clock)
        handoff = services.profile.handoff.model_copy(update={"slack_channel": STAFF_CHANNEL})
        services.profile = services.profile.model_copy(update={"handoff": handoff})
        engine = Engine(services)
        telegram = TelegramAdapter.build(services, engine)
        slack = SlackAdapter.build(services, engine)
        await telegram.application.initialize()
        await slack.startup()  # Slack's job queue and its worker (httpx runs no lifespan)
        app = create_app(services, adapters=[telegram, slack])
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
            ) as client:
                user = TelegramUser(client, bot_api, lang="zh-hant")
                yield user, Staff(client, slack_api, services.jobs), services, telegram, slack
        finally:
            await slack.shutdown()
            await telegram.application.shutdown()
            await services.close()


async def settle(*adapters: TelegramAdapter | SlackAdapter) -> None:
    """One round of each adapter's background work (Slack's Bolt works after its ack)."""
    for _ in range(3):
        for adapter in adapters:
            await adapter.deliver_background()


async def test_a_student_on_telegram_reaches_a_person_on_slack_and_rates_the_help(
    desk: Any,
) -> None:
    user, staff, services, telegram, slack = desk
    assert isinstance(user, TelegramUser)

    await user.say("學號忘了啦")  # free text routed to the ID lookup
    assert "學制" in user.texts()
    await user.say("/menu")
    await user.say("手機一直連不到eduroam")  # an FAQ answer
    assert "eduroam" in user.stub.calls_to("sendMessage")[-2]["text"]

    await user.press("找真人協助")
    await user.say("VPN 一直斷線，我的身分證是 A123456789")
    async with services.sessions() as session:
        case = await session.scalar(select(Case))
    assert case is not None and f"您的案件編號是 #{case.id}" in user.texts()

    await settle(slack)
    post = staff.case_post()
    assert f"Case #{case.id}" in post["text"] and "VPN 一直斷線" in post["text"]
    assert "A123456789" not in post["text"]  # never an ID number to staff
    assert f"chat user {case.actor[:12]}" in post["text"]  # unlinked: the pseudonym only

    await staff.press("case-claim")
    await settle(slack, telegram)
    assert "已接手您的案件" in user.texts()

    await staff.reply("請到 VPN 設定頁重新下載設定檔，再連一次。")
    await settle(slack, telegram)
    answer = user.stub.calls_to("sendMessage")[-1]["text"]
    assert answer == f"服務台（案件 #{case.id}）：請到 VPN 設定頁重新下載設定檔，再連一次。"

    await user.say("好了，可以連了，謝謝！")
    assert f"已轉給服務台（案件 #{case.id}）" in user.texts()
    await settle(slack)
    assert "User: 好了，可以連了，謝謝！" in staff.thread()

    await staff.reply("Pa55word!x")  # a password is never relayed, in this direction either
    await settle(slack, telegram)
    assert "Pa55word!x" not in user.texts()
    assert any("not passed on" in line for line in staff.thread())

    await staff.press("case-close")
    await settle(slack, telegram)
    assert f"服務台已將案件 #{case.id} 結案" in user.texts()
    await user.say("5")
    assert "謝謝您的評分" in user.texts()

    async with services.sessions() as session:
        closed = await session.get(Case, case.id)
        actions = list(
            await session.scalars(select(AuditEvent.action).where(AuditEvent.flow == "handoff"))
        )
    assert closed is not None and closed.status == CaseStatus.CLOSED and closed.rating == 5
    assert closed.first_answer_at is not None
    assert {"case_opened", "case_claimed", "case_answered", "case_closed", "case_rated"} <= set(
        actions
    )
