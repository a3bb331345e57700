"""The README's "Configuration" table names every setting ``core.settings`` reads."""

from __future__ import annotations

import re
from pathlib import Path

from core.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def _table_rows() -> list[tuple[str, str]]:
    """(variables column, default column) of each row of the Configuration table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3 and not set(cells[0]) <= {"-"}:
            rows.append((cells[0], cells[1]))
    return rows[1:]  # below the header


def documented() -> dict[str, str]:
    """Each variable the table names, with its row's default column.

    A row may shorten the variables after its first: ``HELPDESK_SMTP_HOST``, ``_PORT``
    is ``HELPDESK_SMTP_PORT``; ``HELPDESK_JOB_WORKER``, ``_JOB_CONCURRENCY`` is
    ``HELPDESK_JOB_CONCURRENCY``.
    """
    names: dict[str, str] = {}
    for variables, default in _table_rows():
        given = re.findall(r"`([A-Z_][A-Z0-9_]*)`", variables)
        full = [name for name in given if not name.startswith("_")]
        for name in given:
            if not name.startswith("_"):
                names[name] = default
                continue
            for whole in full:
                cuts = [i for i, char in enumerate(whole) if char == "_"]
                names |= {whole[:cut] + name: default for cut in cuts}
    return names


def variables() -> list[str]:
    """The environment variable of each setting (its first name where it has several)."""
    found = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        found.append(str(choices[0]) if choices else f"HELPDESK_{name.upper()}")
    return found


def test_every_setting_is_in_the_configuration_table() -> None:
    table = documented()
    missing = [name for name in variables() if name not in table]
    assert missing == []


def test_the_directory_settings_give_their_defaults() -> None:
    table = documented()
    assert table["HELPDESK_DIRECTORY_SYNC_MINUTES"] == "15"
    assert table["HELPDESK_DIRECTORY_BIND_PASSWORD"] == "unset"
