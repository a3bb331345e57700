"""JSON logs: every line of a chat turn carries the turn's id and actor, redacted as text is."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.services import Services
from bot.web.security import install_log_redaction
from core.logjson import JsonFormatter, formatter, turn
from tests.chat import Chat


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    install_log_redaction()
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def entries(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_every_line_of_a_turn_names_the_turn_and_the_pseudonymous_actor(
    services: Services, chat: Chat, json_lines: io.StringIO
) -> None:
    await chat.say("/start")
    first = [e for e in entries(json_lines) if e.get("turn")]
    await chat.say("/help")
    second = [e for e in entries(json_lines) if e.get("turn")][len(first) :]
    actor = services.pii.chat_user("test", "alice")
    assert first and second
    assert {e["actor"] for e in first + second} == {actor}
    assert len({e["turn"] for e in first}) == 1 and len({e["turn"] for e in second}) == 1
    assert first[0]["turn"] != second[0]["turn"]
    assert any(str(e["message"]).startswith("step channel=test") for e in first)
    assert "alice" not in json_lines.getvalue()


def test_lines_outside_a_turn_have_no_turn(json_lines: io.StringIO) -> None:
    logging.getLogger("helpdesk.test").info("started")
    with turn("abc123"):
        logging.getLogger("helpdesk.test").info("inside")
    outside, inside = entries(json_lines)[-2:]
    assert outside["message"] == "started" and "turn" not in outside
    assert inside["actor"] == "abc123" and inside["level"] == "INFO"


def test_json_lines_are_redacted_like_text_lines_tracebacks_included(
    json_lines: io.StringIO,
) -> None:
    log = logging.getLogger("helpdesk.test")
    log.warning("reset link http://h/password/abcdefSECRETTOKEN123 sent")
    try:
        raise ValueError("token xoxb-1234-5678-SECRETSECRET in a traceback")
    except ValueError:
        log.exception("failed")
    text = json_lines.getvalue()
    assert "SECRETTOKEN123" not in text and "SECRETSECRET" not in text
    link, failure = entries(json_lines)[-2:]
    assert link["message"] == "reset link http://h/password/[redacted] sent"
    assert "xoxb-[redacted]" in str(failure["exception"])


def test_the_text_format_stays_the_default() -> None:
    assert not isinstance(formatter("text"), JsonFormatter)
    assert isinstance(formatter("json"), JsonFormatter)
