"""``helpdesk profiles``: the shipped institution profiles."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from bot.cli.common import out
from core.profiles import available_profiles, load_profile


def profiles() -> None:
    """List the shipped institution profiles."""
    table = Table("name", "institution", "degree levels")
    for name in available_profiles():
        profile = load_profile(name)
        table.add_row(
            escape(name),
            escape(profile.display_name.en),
            escape(", ".join(d.code for d in profile.degree_levels)),
        )
    out.print(table)
