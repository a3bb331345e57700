"""Fixtures for tests that run ``helpdesk`` as a subprocess.

Every ``helpdesk`` they start logs at DEBUG, and its stderr is kept under
``secret_log.subprocess_logs()`` for the suite's secrets scan
(``tests/reliability/test_secrets_in_logs.py``): a child started with its stderr to be
discarded (or inherited) writes it to its file there; one whose stderr the test reads
(``capture_output``) has a copy written there once the test has it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import TEST_SECRET
from tests.reliability import secret_log

LOG_LEVEL = "DEBUG"


def _helpdesk_command(args: Any, env: Any) -> str | None:
    """``helpdesk <command>`` when ``args`` run the bot under an ``env`` fixture's
    environment, else None (Playwright's browser, other tools)."""
    if not isinstance(env, dict) or env.get("HELPDESK_LOG_LEVEL") != LOG_LEVEL:
        return None
    argv = (
        [str(a) for a in args]
        if isinstance(args, Sequence) and not isinstance(args, str | bytes)
        else [str(args)]
    )
    if not argv or Path(argv[0]).name != "helpdesk":
        return None
    return " ".join(["helpdesk", *argv[1:2]])


class _LoggedPopen(subprocess.Popen):  # type: ignore[type-arg]
    """``subprocess.Popen`` that keeps a ``helpdesk`` child's stderr for the scan."""

    def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
        self._copy_to: Path | None = None
        self._log: IO[bytes] | None = None
        command = _helpdesk_command(args, kwargs.get("env"))
        if command is not None:
            stderr = kwargs.get("stderr")
            if stderr in (None, subprocess.DEVNULL):
                self._log = secret_log.subprocess_log(command).open("ab")
                kwargs["stderr"] = self._log
            elif stderr == subprocess.PIPE:
                self._copy_to = secret_log.subprocess_log(command)
        try:
            super().__init__(args, *rest, **kwargs)
        finally:
            if self._log is not None:
                self._log.close()  # the child has its own copy of the descriptor

    def communicate(self, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        out, err = super().communicate(*args, **kwargs)
        if self._copy_to is not None and err:
            text = err if isinstance(err, str) else err.decode("utf-8", "replace")
            with self._copy_to.open("a", encoding="utf-8") as log:
                log.write(text)
        return out, err


@pytest.fixture(autouse=True)
def _keep_subprocess_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(subprocess, "Popen", _LoggedPopen)
    yield


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
        HELPDESK_LOG_LEVEL=LOG_LEVEL,
        COLUMNS="200",
    )
    secret_log.REGISTRY.add(secret_log.CREDENTIAL, TEST_SECRET)
    return environment
