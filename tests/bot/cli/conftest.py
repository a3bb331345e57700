"""The ``helpdesk`` app in-process (Typer's runner) over the test database."""

from tests.cli_helpers import cli_env, helpdesk, in_database

__all__ = ["cli_env", "helpdesk", "in_database"]
