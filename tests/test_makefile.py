"""The README's two commands: ``make run`` needs only the runtime, ``make test`` the dev tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def planned(*args: str) -> str:
    """What make would run from a fresh clone (-B: as if nothing were installed)."""
    return subprocess.run(
        ["make", "-n", "-B", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def test_make_run_installs_the_runtime_without_the_dev_extra() -> None:
    commands = planned("run")
    assert "pip install --quiet -e ." in commands
    assert "[dev]" not in commands
    assert "helpdesk run" in commands


def test_make_test_installs_the_dev_extra() -> None:
    assert "pip install --quiet -e '.[dev]'" in planned("test")


def test_make_run_passes_a_chosen_port() -> None:
    assert "helpdesk run --port 8081" in planned("run", "PORT=8081")
