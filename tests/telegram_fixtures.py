"""The ``bot_api`` fixture: a running Bot API stand-in that fails the test on any violation.

Use it from a test module with ``pytest_plugins = ["tests.telegram_fixtures"]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.telegram_stub import BotApiStub


@pytest.fixture
async def bot_api() -> AsyncIterator[BotApiStub]:
    """A running ``BotApiStub``; at teardown every call must have matched the Bot API spec."""
    async with BotApiStub.running() as stub:
        yield stub
    assert stub.violations == [], "calls that break the Bot API spec:\n" + "\n".join(
        stub.violations
    )
