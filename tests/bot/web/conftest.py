"""Fixtures of the web tests."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.web.security import install_log_redaction

# A configured secret the redaction is told about (a Slack signing secret's shape).
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What a handler added to the root logger, after the redaction was installed, shows."""
    install_log_redaction(SIGNING_SECRET)
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield text
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
