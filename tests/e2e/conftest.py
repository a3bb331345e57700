"""Fixtures for tests that run ``helpdesk`` as a subprocess."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(
        HELPDESK_HOME=str(tmp_path / "var"),
        DATABASE_URL=database_url,
        HELPDESK_SECRET_KEY=TEST_SECRET,
        HELPDESK_ARGON2_TIME_COST="2",
        HELPDESK_ARGON2_MEMORY_KIB="19456",
        HELPDESK_ARGON2_PARALLELISM="1",
        COLUMNS="200",
    )
    return environment
