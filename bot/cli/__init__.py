"""The ``helpdesk`` command: one Typer app, one module per command group."""

from __future__ import annotations

import typer

from bot.adapters.base import registered
from bot.cli.account import account_app
from bot.cli.alumni import alumni_app
from bot.cli.audit import audit
from bot.cli.card import card_app
from bot.cli.cases import cases_app
from bot.cli.common import private_files
from bot.cli.db import db_app
from bot.cli.directory import directory_app
from bot.cli.doctor import doctor
from bot.cli.faq import faq_app
from bot.cli.mailbox import mailbox_app
from bot.cli.policy import policy_app
from bot.cli.profiles import profiles
from bot.cli.retention import retention_app
from bot.cli.run import chat, run_command, serve
from bot.cli.workers import worker

# Tracebacks never print local variables: they may hold personal data or secrets.
app = typer.Typer(
    help="Campus Helpdesk Bot: account self-service in chat.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.callback()(private_files)
app.command("run")(run_command)
app.command()(chat)
app.command()(serve)
app.command()(worker)
app.command()(profiles)
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")
app.add_typer(mailbox_app, name="mailbox")
app.add_typer(account_app, name="account")
app.add_typer(card_app, name="card")
app.add_typer(cases_app, name="cases")
app.add_typer(alumni_app, name="alumni")
app.add_typer(faq_app, name="faq")
app.add_typer(directory_app, name="directory")
app.command()(audit)
app.command()(doctor)
app.add_typer(retention_app, name="retention")
# Each platform brings its own group (helpdesk telegram|slack|line ...).
for adapter in registered():
    group = adapter.commands()
    if group is not None:
        app.add_typer(group, name=adapter.channel)

__all__ = ["app"]
