"""Console transcript: link, the status of a suspended mailbox, its notice; staff CLI."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path

from tests.e2e.test_cli import helpdesk
from tests.e2e.test_console import Process


def _code_from(notice: str) -> str:
    path = re.search(r"written to (\S+\.eml)", notice)
    assert path is not None, notice
    mail = message_from_bytes(Path(path.group(1)).read_bytes(), policy=policy.default)
    code = re.search(r"\b(\d{6})\b", mail.get_body().get_content())  # type: ignore[union-attr]
    assert code is not None
    return code.group(1)


def test_link_then_status_of_a_suspended_mailbox_then_its_notice(env: dict[str, str]) -> None:
    assert helpdesk(env, "db", "seed-demo").returncode == 0
    chat = Process(env)
    try:
        chat.wait_for("What can I help you with?")
        chat.send("My mailbox status")
        chat.wait_for("First, let us link this chat")
        chat.send("111201002")  # 陳怡君 of the demo directory
        seen = chat.wait_for(".eml")
        chat.send(_code_from(seen))
        status = chat.wait_for("What would you like to do?")
        assert "this chat is now linked" in status
        assert "a111201002@grad.demo.edu.tw\nSuspended by the administrators on" in status
        chat.send("Read the notice for a111201002@grad.demo.edu.tw")
        notice = chat.wait_for("What would you like to do?")
        # The notice is written in both languages; an English chat reads the English one.
        assert "Suspected abnormal login" in notice and "疑似異常登入" not in notice
    finally:
        chat.kill()


def test_staff_suspend_show_and_unsuspend_a_mailbox(env: dict[str, str]) -> None:
    assert helpdesk(env, "db", "seed-demo").returncode == 0
    address = "a211303001@grad.demo.edu.tw"  # 林明志
    suspended = helpdesk(env, "mailbox", "suspend", address, "--reason", "Sending spam")
    assert suspended.returncode == 0, suspended.stderr
    shown = helpdesk(env, "mailbox", "show", address)
    assert "suspended" in shown.stdout and "Sending spam" in shown.stdout
    lifted = helpdesk(env, "mailbox", "unsuspend", address)
    assert lifted.returncode == 0 and "normal" in lifted.stdout
    missing = helpdesk(env, "mailbox", "show", "nobody@grad.demo.edu.tw")
    assert missing.returncode == 1 and "No mailbox" in missing.stderr
