"""The ``line_api`` fixture: a running Messaging API stand-in that fails the test on any violation.

Use it from a test module with ``pytest_plugins = ["tests.line_fixtures"]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.line_stub import LineApiStub


@pytest.fixture
async def line_api() -> AsyncIterator[LineApiStub]:
    """A running ``LineApiStub``; at teardown every call must have matched LINE's OpenAPI."""
    async with LineApiStub.running() as stub:
        yield stub
    assert stub.violations == [], "calls that break LINE's OpenAPI document:\n" + "\n".join(
        stub.violations
    )
