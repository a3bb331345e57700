"""Console transcripts of a mailbox application (seed 004) in English and Chinese."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from tests.e2e.test_card_transcript import _code
from tests.e2e.test_cli import helpdesk
from tests.e2e.test_console import Process


def _mail(seen: str) -> EmailMessage:
    path = re.findall(r"written to (\S+\.eml)", seen)
    assert path, seen
    mail = message_from_bytes(Path(path[-1]).read_bytes(), policy=policy.default)
    assert isinstance(mail, EmailMessage)
    return mail


def _link_then(chat: Process, flow: str, account: str) -> None:
    chat.wait_for("\n  1. ")
    chat.send(flow)
    chat.send(account)
    chat.send(_code(chat.wait_for(".eml")))


def test_applying_in_english_accepting_both_texts(env: dict[str, str]) -> None:
    assert helpdesk(env, "db", "seed-demo").returncode == 0
    chat = Process(env)
    try:
        _link_then(chat, "Apply for a new mailbox", "211303001")  # 林明志, enrolled
        assert "Network Usage Policy" in chat.wait_for("I accept; continue")
        chat.send("I accept; continue")
        assert "Terms of Use for Email Accounts" in chat.wait_for("I accept; continue")
        chat.send("I accept; continue")
        names = chat.wait_for("@demo.edu.tw")
        assert "Choose the name of your mailbox" in names
        chat.send("1")
        created = chat.wait_for(".eml")
        assert "Created ming-zhi.lin@demo.edu.tw." in created
        assert "Quota: 0 KB of 60 GB." in created
        assert "takes effect within 10 minutes" in created
        # The set-password link goes to the address on file, not into the chat.
        assert "was sent to mi*******in@example.com, the address on file" in created
        assert "/password/" not in created.split("written to")[0]
        mail = _mail(created)
        assert mail["To"] == "mingzhi.lin@example.com"
        assert "/password/" in mail.get_body().get_content()  # type: ignore[union-attr]
        # Seed 004's last step: designate the address for the mailbox's notifications.
        if "Another address" not in created:  # the mail's line may come first
            chat.wait_for("Another address")
        chat.send("Keep mi*******in@example.com")
        kept = chat.wait_for("What can I help you with?")
        assert "Notifications for ming-zhi.lin@demo.edu.tw go to mi*******in@example.com." in kept
    finally:
        chat.kill()


def test_declining_the_policy_in_chinese_creates_nothing(env: dict[str, str]) -> None:
    assert helpdesk(env, "db", "seed-demo").returncode == 0
    env = {**env}
    chat = Process(env, lang="zh-TW")
    try:
        _link_then(chat, "申請新信箱", "211303001")
        assert "示範大學校園網路使用規範" in chat.wait_for("我不接受")
        chat.send("我不接受")
        assert "您沒有接受，因此未建立信箱。" in chat.wait_for("請問需要什麼協助？")
    finally:
        chat.kill()
    shown = helpdesk(env, "mailbox", "show", "ming-zhi.lin@demo.edu.tw")
    assert shown.returncode == 1
