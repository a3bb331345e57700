"""The suite's long runs use the shared ``database_url`` fixture, which is on tmpfs.

Kept so modules that import the fixture from here keep working:
``from tests.reliability.fast_db import database_url  # noqa: F401``.
"""

from __future__ import annotations

from tests.conftest import database_url

__all__ = ["database_url"]
