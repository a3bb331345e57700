"""Console: the alumni card with its QR and a refresh; staff review of an application."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path

from tests.e2e.test_cli import helpdesk
from tests.e2e.test_console import Process


def _code(seen: str) -> str:
    path = re.search(r"written to (\S+\.eml)", seen)
    assert path is not None, seen
    mail = message_from_bytes(Path(path.group(1)).read_bytes(), policy=policy.default)
    code = re.search(r"\b(\d{6})\b", mail.get_body().get_content())  # type: ignore[union-attr]
    assert code is not None
    return code.group(1)


def _link(chat: Process, account: str, flow: str) -> None:
    chat.wait_for("What can I help you with?")
    chat.send(flow)
    chat.wait_for("First, let us link this chat")
    chat.send(account)
    chat.send(_code(chat.wait_for(".eml")))


def test_the_card_and_a_refresh_in_the_console(env: dict[str, str]) -> None:
    assert helpdesk(env, "db", "seed-demo").returncode == 0
    chat = Process(env)
    try:
        _link(chat, "B10920500300", "My alumni card")  # 王大同, alumnus with an active card
        shown = chat.wait_for("Close the card")
        assert "Wang Da-Tong · Electronic alumni card" in shown
        assert re.search(r"\d\d:\d\d left, refreshes automatically", shown)
        assert "█" in shown  # the QR drawn with half blocks
        chat.send("Refresh now")
        again = chat.wait_for("Close the card")
        assert "refreshes automatically" in again and "█" in again
        chat.send("Close the card")
        assert "The alumni card is closed." in chat.wait_for("What can I help you with?")
    finally:
        chat.kill()


def test_an_application_is_approved_by_staff_and_the_alumnus_is_told(
    env: dict[str, str],
) -> None:
    assert helpdesk(env, "db", "seed-demo").returncode == 0
    listed = helpdesk(env, "card", "list", "--pending")
    pending = re.search(r"│\s*(\d+)\s*│\s*吳雅婷", listed.stdout)  # the demo's pending card
    assert pending is not None, listed.stdout
    card = pending.group(1)
    chat = Process(env)
    try:
        _link(chat, "B21020600600", "My alumni card")
        assert "waiting for review" in chat.wait_for("What can I help you with?")
        approved = helpdesk(env, "card", "approve", card)
        assert approved.returncode == 0 and "active" in approved.stdout, approved.stderr
        chat.send("/menu")  # the next turn delivers the notice
        assert f"alumni card {card} is approved" in chat.wait_for("is approved")
        chat.send("My alumni card")
        assert "Electronic alumni card" in chat.wait_for("Close the card")
    finally:
        chat.kill()
    again = helpdesk(env, "card", "reject", card, "--reason", "duplicate")
    assert again.returncode == 1 and "not pending" in again.stderr
    revoked = helpdesk(env, "card", "revoke", card)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
