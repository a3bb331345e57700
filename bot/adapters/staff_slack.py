"""The staff Slack channel: cases as messages with Claim and Close buttons, a thread each.

Staff answer by replying in the case's thread; the Slack adapter hands those replies and
the buttons here (``is_staff_event``, ``on_event``, ``on_button``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import Services
from bot.staffdesk import CaseDesk

DESK = "slack"
ACTION_PATTERN = r"^case-(claim|close)$"
MAX_TEXT = 3000


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "plain_text", "text": text[:MAX_TEXT] or "…"}}


def case_blocks(case_id: int, text: str, status: str) -> list[dict[str, Any]]:
    """The case's summary and the buttons its status allows (none once closed)."""
    buttons = []
    if status == "open":
        buttons.append(("case-claim", "Claim", "primary"))
    if status != "closed":
        buttons.append(("case-close", "Close", "danger"))
    blocks = [_section(text)]
    if buttons:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": action,
                        "text": {"type": "plain_text", "text": label},
                        "value": str(case_id),
                        "style": style,
                    }
                    for action, label, style in buttons
                ],
            }
        )
    return blocks


class SlackStaffDesk:
    """Cases in one Slack channel, through the adapter's Web API client."""

    desk = DESK

    def __init__(self, client: AsyncWebClient, channel: str) -> None:
        self.client, self.channel = client, channel

    async def post_case(self, case_id: int, text: str, status: str) -> dict[str, Any]:
        posted = await self.client.chat_postMessage(
            channel=self.channel, text=text[:MAX_TEXT], blocks=case_blocks(case_id, text, status)
        )
        return {"channel": str(posted["channel"]), "ts": str(posted["ts"])}

    async def update_case(
        self, where: dict[str, Any], case_id: int, text: str, status: str
    ) -> None:
        await self.client.chat_update(
            channel=where["channel"],
            ts=where["ts"],
            text=text[:MAX_TEXT],
            blocks=case_blocks(case_id, text, status),
        )

    async def post_in_thread(self, where: dict[str, Any], text: str) -> dict[str, Any]:
        await self.client.chat_postMessage(
            channel=where["channel"], thread_ts=where["ts"], text=text[:MAX_TEXT]
        )
        return {}


def staff_desk(services: Services, client: AsyncWebClient) -> CaseDesk | None:
    """The profile's staff channel on Slack, if it names one."""
    channel = services.profile.handoff.slack_channel
    return CaseDesk(services, SlackStaffDesk(client, channel)) if channel else None


def is_staff_event(desk: CaseDesk | None, body: Mapping[str, Any]) -> bool:
    """Whether an event happened in the staff channel (and is not for the engine)."""
    if desk is None:
        return False
    assert isinstance(desk.desk, SlackStaffDesk)
    return (body.get("event") or {}).get("channel") == desk.desk.channel


async def on_event(desk: CaseDesk, body: Mapping[str, Any]) -> None:
    """A staff member's reply in a case's thread goes to the case's user."""
    event = body.get("event") or {}
    thread = event.get("thread_ts")
    if event.get("type") != "message" or event.get("subtype") or event.get("bot_id") or not thread:
        return
    assert isinstance(desk.desk, SlackStaffDesk)
    case_id = await desk.case_for({"ts": str(thread)})
    if case_id is None:
        return
    relayed, answer = await desk.staff_reply(
        case_id, str(event.get("user")), str(event.get("text") or "")
    )
    if relayed and event.get("ts"):
        # A tick on the reply: staff see it is on its way to the user (without the
        # reactions:write scope the reply still goes; only the tick is missing).
        with contextlib.suppress(SlackApiError):
            await desk.desk.client.reactions_add(
                channel=desk.desk.channel, timestamp=str(event["ts"]), name="white_check_mark"
            )
    if answer:
        await desk.desk.client.chat_postMessage(
            channel=desk.desk.channel, thread_ts=str(thread), text=answer
        )


async def on_button(desk: CaseDesk, body: Mapping[str, Any]) -> None:
    """Claim or Close pressed on a case's message."""
    action = (body.get("actions") or [{}])[0]
    value, user = str(action.get("value") or ""), (body.get("user") or {}).get("id")
    if value.isdigit() and user:
        await desk.button(int(value), str(action.get("action_id", "")).removeprefix("case-"), user)
