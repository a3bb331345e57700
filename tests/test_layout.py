"""The architecture's import rules (DESIGN.md): core never imports bot; flows import no SDK."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAT_SDKS = ("telegram", "slack_bolt", "slack_sdk", "linebot", "aiogram")


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module a file imports, however it is written."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value.split(".")[0])
    return names


def violations(folder: Path, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(folder.parent)} imports {name}"
        for path in sorted(folder.rglob("*.py"))
        for name in sorted(imported_modules(path) & set(forbidden))
    ]


def test_core_never_imports_bot() -> None:
    assert violations(ROOT / "core", ("bot",)) == []


def test_conversations_import_no_chat_sdk() -> None:
    assert violations(ROOT / "bot" / "conversations", CHAT_SDKS) == []


@pytest.mark.parametrize(
    "source",
    [
        "import bot.engine\n",
        "from bot import flow\n",
        "from bot.types import Text\n",
        "import importlib\nimportlib.import_module('bot.cli')\n",
        "def f():\n    import bot\n",
    ],
)
def test_the_rule_checker_catches_each_way_of_importing(tmp_path: Path, source: str) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "bad.py").write_text(source)
    assert violations(tmp_path / "core", ("bot",)) == ["core/bad.py imports bot"]


def test_the_rule_checker_ignores_relative_and_lookalike_imports(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "fine.py").write_text("from . import bots\nimport botocore\n")
    assert violations(tmp_path / "core", ("bot",)) == []


def flow_modules(folder: Path) -> dict[str, Path]:
    """The modules of ``folder`` that register a flow (``@register`` on a class)."""
    flows = {}
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(
            isinstance(node, ast.ClassDef)
            and any(isinstance(d, ast.Name) and d.id == "register" for d in node.decorator_list)
            for node in ast.walk(tree)
        ):
            flows[f"bot.conversations.{path.stem}"] = path
    return flows


def full_imports(path: Path) -> set[str]:
    """Every module a file imports by its full name (``from a.b import c`` gives a.b, a.b.c)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def flows_importing_flows(folder: Path) -> list[str]:
    flows = flow_modules(folder)
    return [
        f"{path.name} imports {other}"
        for module, path in flows.items()
        for other in sorted(full_imports(path) & (set(flows) - {module}))
    ]


def test_no_flow_module_imports_another_flow_module() -> None:
    folder = ROOT / "bot" / "conversations"
    assert len(flow_modules(folder)) >= 7  # the checker still finds the flows
    assert flows_importing_flows(folder) == []


def test_the_flow_rule_checker_catches_a_flow_importing_another(tmp_path: Path) -> None:
    flow = "from bot.flow import register\n\n@register\nclass F:\n    pass\n"
    (tmp_path / "a.py").write_text(flow)
    (tmp_path / "b.py").write_text("from bot.conversations.a import X\n" + flow)
    (tmp_path / "common.py").write_text("X = 1\n")
    (tmp_path / "c.py").write_text("from bot.conversations import common\n" + flow)
    assert flows_importing_flows(tmp_path) == ["b.py imports bot.conversations.a"]


# Where platforms differ, the engine and flows read the adapter's capabilities; these
# parts of the bot name no platform (issue 18's "done when").
PLATFORM_NEUTRAL = ("bot/engine.py", "bot/flow.py", "bot/conversations", "core")


def platform_names() -> set[str]:
    from bot.adapters.base import registered
    from bot.adapters.console import CHANNEL

    return {adapter.channel for adapter in registered()} | {CHANNEL}


def platform_mentions(root: Path, names: set[str]) -> list[str]:
    """Each chat SDK or adapter import and each platform name in a string, per file and line."""
    found = []
    for part in PLATFORM_NEUTRAL:
        folder = root / part
        paths = sorted(folder.rglob("*.py")) if folder.is_dir() else [folder]
        for path in paths:
            where = path.relative_to(root)
            found += [
                f"{where} imports {name}"
                for name in sorted(imported_modules(path) & set(CHAT_SDKS))
            ]
            found += [
                f"{where} imports {name}"
                for name in sorted(full_imports(path))
                if name == "bot.adapters" or name.startswith("bot.adapters.")
            ]
            tree = ast.parse(path.read_text(encoding="utf-8"))
            found += [
                f"{where}:{node.lineno} names {node.value!r}"
                for node in ast.walk(tree)
                if isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.lower() in names
            ]
    return found


def test_the_engine_the_flows_and_core_name_no_platform() -> None:
    names = platform_names()
    assert {"telegram", "slack", "line", "console"} <= names
    assert platform_mentions(ROOT, names) == []


def test_the_platform_checker_catches_a_name_compared_and_an_sdk_imported(
    tmp_path: Path,
) -> None:
    (tmp_path / "bot" / "conversations").mkdir(parents=True)
    (tmp_path / "core").mkdir()
    (tmp_path / "bot" / "engine.py").write_text(
        "def f(incoming):\n    return incoming.channel == 'telegram'\n"
    )
    (tmp_path / "bot" / "flow.py").write_text("from bot.adapters.line import LineAdapter\n")
    (tmp_path / "bot" / "conversations" / "x.py").write_text("import linebot\n")
    (tmp_path / "core" / "y.py").write_text(
        "'''Say it on the console.'''\nslack_trusted_teams = ['T1']\nKIND = 'Slack'\n"
    )
    assert platform_mentions(tmp_path, {"telegram", "slack", "line", "console"}) == [
        "bot/engine.py:2 names 'telegram'",
        "bot/flow.py imports bot.adapters.line",
        "bot/flow.py imports bot.adapters.line.LineAdapter",
        "bot/conversations/x.py imports linebot",
        "core/y.py:3 names 'Slack'",
    ]


# The code map's boundaries between packages (README, "Code map"): who may import whom.
BOUNDARIES = {
    # The staff command and the web pages call core use cases, never a chat flow
    # ("bot.conversations." with a dot: importing the package registers the flows).
    "bot/cli": ("bot.conversations.",),
    "bot/web": ("bot.conversations.", "bot.cli"),
    # Adapters translate; the commands are registered from them, not the other way round.
    "bot/adapters": ("bot.web",),
    # The platform-neutral middle (engine, flow, services, delivery...) knows no entry point,
    # and no flow: what the engine shares with the flows is in bot/desk.py.
    "bot/*.py": ("bot.adapters", "bot.web", "bot.cli", "bot.conversations."),
}


def _within(name: str, forbidden: str) -> bool:
    if forbidden.endswith("."):  # the package's modules, not the package itself
        return name.startswith(forbidden)
    return name == forbidden or name.startswith(forbidden + ".")


def boundary_violations(root: Path) -> list[str]:
    found = []
    for place, forbidden in BOUNDARIES.items():
        paths = sorted(root.glob(place)) if "*" in place else sorted((root / place).rglob("*.py"))
        for path in paths:
            found += [
                f"{path.relative_to(root)} imports {name}"
                for name in sorted(full_imports(path))
                if any(_within(name, f) for f in forbidden)
            ]
    return found


def test_each_package_imports_only_what_the_code_map_allows() -> None:
    assert boundary_violations(ROOT) == []


def test_the_boundary_checker_catches_a_cli_importing_a_flow(tmp_path: Path) -> None:
    (tmp_path / "bot" / "cli").mkdir(parents=True)
    (tmp_path / "bot" / "cli" / "x.py").write_text("from bot.conversations.card import CardFlow\n")
    (tmp_path / "bot" / "cli" / "ok.py").write_text("from bot import conversations\n")
    (tmp_path / "bot" / "engine.py").write_text("import bot.web.app\n")
    assert boundary_violations(tmp_path) == [
        "bot/cli/x.py imports bot.conversations.card",
        "bot/cli/x.py imports bot.conversations.card.CardFlow",
        "bot/engine.py imports bot.web.app",
    ]


# The directory's tables (issue 17): bot/ asks core's use cases (core.accounts,
# core.mailboxes, core.people...) and gets plain values back, never these rows. The
# enums beside them in core.models (Role, MailboxCondition...) are values and may be used.
DIRECTORY_TABLES = ("Person", "StudentRecord", "Account", "PasswordHistory", "Mailbox")


def directory_table_uses(root: Path) -> list[str]:
    """Each import of a directory table from ``core.models`` under bot/, however written."""
    found = []
    for path in sorted((root / "bot").rglob("*.py")):
        where = path.relative_to(root)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = set()  # the names core.models is bound to in this file
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                if node.module == "core.models":
                    found += [
                        f"{where}:{node.lineno} imports core.models.{alias.name}"
                        for alias in node.names
                        if alias.name in DIRECTORY_TABLES or alias.name == "*"
                    ]
                elif node.module == "core":
                    aliases |= {a.asname or a.name for a in node.names if a.name == "models"}
            elif isinstance(node, ast.Import):
                aliases |= {a.asname or a.name for a in node.names if a.name == "core.models"}
        found += [
            f"{where}:{node.lineno} uses core.models.{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr in DIRECTORY_TABLES
            and ast.unparse(node.value) in aliases
        ]
    return found


def test_nothing_under_bot_touches_the_directorys_tables() -> None:
    assert directory_table_uses(ROOT) == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from core.models import Mailbox, Role\n", "x.py:1 imports core.models.Mailbox"),
        ("from core.models import Person as P\n", "x.py:1 imports core.models.Person"),
        ("from core.models import *\n", "x.py:1 imports core.models.*"),
        ("def f():\n    from core.models import Account\n", "x.py:2 imports core.models.Account"),
        (
            "import core.models\ncore.models.StudentRecord\n",
            "x.py:2 uses core.models.StudentRecord",
        ),
        ("import core.models as m\nm.PasswordHistory\n", "x.py:2 uses core.models.PasswordHistory"),
        ("from core import models\nmodels.Person.id\n", "x.py:2 uses core.models.Person"),
    ],
)
def test_the_table_checker_catches_each_way_of_reaching_a_table(
    tmp_path: Path, source: str, found: str
) -> None:
    (tmp_path / "bot" / "cli").mkdir(parents=True)
    (tmp_path / "bot" / "cli" / "x.py").write_text(source)
    assert directory_table_uses(tmp_path) == [f"bot/cli/{found}"]


def test_the_table_checker_allows_the_enums_and_the_bots_own_tables(tmp_path: Path) -> None:
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "x.py").write_text(
        "from core.models import AlumniCard, MailboxCondition, Role\n"
        "from core import models\nmodels.CardView\n"
        "from core.mailboxes import MailboxView\nbox.Mailbox\n"
    )
    assert directory_table_uses(tmp_path) == []
