"""The staff CLI is a thin caller: it never imports a chat flow."""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[3] / "bot" / "cli"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_cli_module_imports_a_chat_flow() -> None:
    # ``from bot import conversations`` registers every flow for the engine; a module
    # *inside* it is a flow, whose use cases belong in core.
    found = {
        f"{path.name}: {name}"
        for path in sorted(CLI.glob("*.py"))
        for name in _imports(path)
        if name.startswith("bot.conversations.")
    }
    assert found == set()


def test_every_command_group_is_a_module_of_its_own() -> None:
    modules = {path.stem for path in CLI.glob("*.py")}
    expected = {"common", "run", "db", "policy", "mailbox", "card", "alumni", "telegram", "slack"}
    assert expected <= modules
