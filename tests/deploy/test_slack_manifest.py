"""The Slack manifest grants what the code calls and subscribes to what the desk listens to."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]

# The bot scope each Slack Web API method the code calls needs (api.slack.com/methods).
SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "files_upload_v2": "files:write",
    "reactions_add": "reactions:write",
    "users_info": "users:read",
}


def _manifest() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "deploy" / "slack-manifest.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _called_methods() -> set[str]:
    called: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        called |= set(re.findall(r"\.(\w+)\(", path.read_text(encoding="utf-8"))) & set(SCOPES)
    return called


def test_every_slack_method_the_code_calls_has_its_scope_in_the_manifest() -> None:
    scopes = set(_manifest()["oauth_config"]["scopes"]["bot"])
    called = _called_methods()
    assert "reactions_add" in called  # the staff desk's tick on a relayed reply
    assert {SCOPES[method] for method in called} <= scopes


def test_staff_replies_in_case_threads_reach_the_bot_from_public_and_private_channels() -> None:
    manifest = _manifest()
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"channels:history", "groups:history", "im:history"} <= scopes
    assert {"message.channels", "message.groups", "message.im"} <= events
