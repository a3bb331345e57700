"""Slack payloads to Incoming: one translation for messages, mentions and button presses."""

from __future__ import annotations

from bot.adapters.slack import to_incoming
from core.deliveries import delivery_key
from tests.slack_stub import APP_ID, TEAM_ID, block_action, event_callback


def _message(**extra: object) -> dict[str, object]:
    event = {
        "type": "message",
        "channel": "D0USER",
        "channel_type": "im",
        "user": "U0USER",
        "text": "menu",
        "ts": "1700000000.000100",
        **extra,
    }
    return event_callback(event, "Ev000001")


def test_a_direct_message_becomes_private_text_keyed_by_app_workspace_and_event() -> None:
    incoming = to_incoming(_message())
    assert incoming is not None
    assert (incoming.user_id, incoming.chat_id, incoming.text) == ("U0USER", "D0USER", "menu")
    assert incoming.private and incoming.workspace == TEAM_ID
    assert incoming.message_id == "1700000000.000100"
    assert incoming.delivery_id == delivery_key(f"{APP_ID}:{TEAM_ID}", "Ev000001")


def test_the_same_event_id_in_another_workspace_is_another_delivery() -> None:
    ours = to_incoming(_message())
    event = dict(_message()["event"])  # type: ignore[call-overload]
    theirs = to_incoming(event_callback(event, "Ev000001", team_id="T0OTHER"))
    assert ours is not None and theirs is not None
    assert ours.delivery_id != theirs.delivery_id


def test_a_mention_in_a_channel_is_not_private() -> None:
    event = {
        "type": "app_mention",
        "channel": "C0GENERAL",
        "user": "U0USER",
        "text": "<@U0BOT> help",
        "ts": "1700000000.000300",
    }
    incoming = to_incoming(event_callback(event, "EvMention"))
    assert incoming is not None and not incoming.private
    assert incoming.chat_id == "C0GENERAL"


def test_edits_bot_messages_and_joins_are_ignored() -> None:
    assert to_incoming(_message(subtype="message_changed")) is None
    assert to_incoming(_message(bot_id="B0BOT")) is None
    assert to_incoming(_message(subtype="channel_join")) is None


def test_a_button_press_carries_its_value_and_a_delivery_per_click() -> None:
    first = to_incoming(block_action("U0USER", "D0USER", "choice-0", "n1:flow:x", "1.0"))
    second = to_incoming(block_action("U0USER", "D0USER", "choice-0", "n1:flow:x", "1.0"))
    assert first is not None and second is not None
    assert first.action == "n1:flow:x" and first.private and first.workspace == TEAM_ID
    assert first.delivery_id != second.delivery_id
