"""The ``slack_api`` fixture: a running Web API stand-in that fails the test on any violation.

Use it from a test module with ``pytest_plugins = ["tests.slack_fixtures"]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.slack_stub import WebApiStub


@pytest.fixture
async def slack_api() -> AsyncIterator[WebApiStub]:
    """A running ``WebApiStub``; at teardown every call must have matched Slack's methods."""
    async with WebApiStub.running() as stub:
        yield stub
    assert stub.violations == [], "calls that break Slack's method descriptions:\n" + "\n".join(
        stub.violations
    )
