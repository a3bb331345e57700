"""The console adapter as a user (or a script) runs it: ``helpdesk chat`` as a subprocess."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot import conversations  # noqa: F401  (registers the flows)
from bot.flow import menu_flows
from core.i18n import Translator

HELPDESK = str(Path(sys.executable).with_name("helpdesk"))


# Transcripts resume one chat per console user (LOGNAME) across runs; a run without
# --session would be a new chat each time.
SESSION = "transcript"


def chat(env: dict[str, str], lang: str, lines: list[str]) -> str:
    return run_chat(env, lang, lines, "--session", SESSION).stdout


def run_chat(
    env: dict[str, str], lang: str, lines: list[str], *args: str
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [HELPDESK, "chat", "--lang", lang, *args],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def _menu(locale: str) -> str:
    """The menu as the console prints it: every registered flow, then language and help."""
    t = Translator(locale)
    labels = [t._(flow.title) for flow in menu_flows()] + [t._("Language / 語言"), t._("Help")]
    lines = [t._("What can I help you with?")]
    lines += [f"  {n}. {label}" for n, label in enumerate(labels, 1)]
    return "\n".join(lines)


def test_start_menu_language_and_cancel_in_english(env: dict[str, str]) -> None:
    out = chat(env, "en", ["/start", "/menu", "/language", "1", "/cancel"])
    assert "Hello! I am the account helpdesk of Demo University." in out
    assert _menu("en") in out
    assert "Choose your language:\n  1. 中文（臺灣）\n  2. English" in out
    assert "已將語言設定為中文。" in out
    assert out.rstrip().endswith(_menu("zh_TW").splitlines()[-1])
    assert "目前沒有進行中的對話可以取消。" in out


def test_start_menu_language_and_cancel_in_chinese(env: dict[str, str]) -> None:
    out = chat(env, "zh-TW", ["/start", "選單", "語言", "English", "1", "/cancel"])
    assert "您好！我是示範大學的帳號服務小幫手。" in out
    assert "請問需要什麼協助？\n  1. 查詢學號" in out
    assert "Language set to English." in out
    assert "Which degree programme were you admitted to?" in out
    assert "Cancelled. Nothing was changed." in out


def test_end_of_input_exits_cleanly_and_an_unknown_flag_value_is_refused(
    env: dict[str, str],
) -> None:
    assert chat(env, "en", []).startswith("What can I help you with?")
    bad = subprocess.run(
        [HELPDESK, "chat", "--lang", "fr"],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "zh-TW or en" in bad.stderr


class Process:
    """A running ``helpdesk chat`` whose output is read line by line."""

    def __init__(
        self, env: dict[str, str], command: str = "chat", lang: str = "en", *args: str
    ) -> None:
        self.proc = subprocess.Popen(
            [HELPDESK, command, "--lang", lang, "--session", SESSION, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        try:
            for line in self.proc.stdout:
                self.lines.put(line)
        except ValueError:  # closed by kill()
            return

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.stdout.close()

    def wait_for(self, needle: str, timeout: float = 30) -> str:
        seen = ""
        deadline = time.monotonic() + timeout
        while needle not in seen:
            seen += self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        return seen


def test_a_conversation_continues_after_the_process_is_killed(env: dict[str, str]) -> None:
    first = Process(env)
    first.wait_for("What can I help you with?")
    first.send("1")
    first.wait_for("Which degree programme")
    first.send("Master's programme")
    first.wait_for("national ID number")
    first.kill()

    second = Process(env)
    try:
        # The new process asks where the conversation stood, and takes the answer.
        second.wait_for("national ID number")
        second.send("A123456788")
        second.wait_for("check digit does not match")
        second.send("F131104093")
        second.wait_for("Please type your birthday")
    finally:
        second.kill()


def test_each_console_run_is_a_new_chat_unless_a_session_is_named(env: dict[str, str]) -> None:
    first = run_chat(env, "en", ["1"])
    assert "Which degree programme" in first.stdout
    session = re.search(r"resume it with --session (\w+)", first.stderr)
    assert session is not None, first.stderr
    # A second run (a script beside `make run`) starts at the menu, not in the lookup.
    beside = run_chat(env, "en", [])
    assert beside.stdout.startswith("What can I help you with?")
    # Naming the session resumes the first run's conversation.
    resumed = run_chat(env, "en", [], "--session", session.group(1))
    assert resumed.stdout.startswith("Which degree programme")


def test_a_chat_on_an_empty_directory_says_how_to_fill_it(env: dict[str, str]) -> None:
    result = run_chat(env, "en", [])
    assert "The directory is empty" in result.stderr
    assert "helpdesk db seed-demo" in result.stderr
