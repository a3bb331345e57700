"""``helpdesk faq check``: a profile's answers are checked, each problem named."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.faq import faq_folder
from core.settings import Settings
from tests.bot.cli.conftest import helpdesk


def test_the_demo_answers_have_no_problems(cli_env: Settings) -> None:
    result = helpdesk("faq", "check")
    assert result.exit_code == 0, result.output
    assert f"{faq_folder('demo')}: no problems" in result.stdout


def test_each_problem_is_printed_with_its_file_and_the_exit_is_1(tmp_path: Path) -> None:
    folder = tmp_path / "faq"
    shutil.copytree(faq_folder("demo"), folder)
    (folder / "eduroam.zh_TW.md").unlink()
    (folder / "notes.txt.md").write_text("hello\n", encoding="utf-8")
    vpn = folder / "printing_quota.en.md"
    # An answer's example that is how people ask for a flow: it would steal the flow.
    vpn.write_text(
        vpn.read_text(encoding="utf-8").replace(
            'examples = ["', 'examples = ["I forgot my password", "', 1
        ),
        encoding="utf-8",
    )
    result = helpdesk("faq", "check", "--folder", str(folder))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{folder / 'notes.txt.md'}: ") for line in lines), lines
    assert any("eduroam" in line for line in lines), lines
    assert any(line.startswith(f"{vpn}: ") and "I forgot my password" in line for line in lines), (
        lines
    )
    assert "problem(s) in" in result.stderr


def test_an_unknown_profile_is_named_with_the_known_ones(cli_env: Settings) -> None:
    result = helpdesk("faq", "check", "--profile", "nowhere")
    assert result.exit_code == 2
    assert "Unknown profile 'nowhere'; the profiles are: " in result.stderr
    assert "ntust" in result.stderr


def test_another_shipped_profile_without_answers_is_reported(cli_env: Settings) -> None:
    result = helpdesk("faq", "check", "--profile", "ntust")
    if faq_folder("ntust").is_dir():
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 1
        assert f"{faq_folder('ntust')}: no such folder" in result.stdout
