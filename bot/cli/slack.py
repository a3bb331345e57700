"""``helpdesk slack socket``: Slack in Socket Mode, for one process without a public URL."""

from __future__ import annotations

import contextlib

import typer

from bot.adapters.slack import SlackAdapter
from bot.cli.common import err, load_settings, run, setup_logging
from bot.engine import Engine
from bot.services import build_services
from bot.web.app import schedule_background, schedule_deliveries

slack_app = typer.Typer(help="Slack: Socket Mode for a single process.")


@slack_app.command("socket")
def socket() -> None:
    """Socket Mode (no public URL; one process): needs HELPDESK_SLACK_APP_TOKEN (xapp-...)."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    settings = load_settings()
    setup_logging(settings)
    if settings.slack_app_token is None or settings.slack_bot_token is None:
        err.print("[red]Set HELPDESK_SLACK_BOT_TOKEN and HELPDESK_SLACK_APP_TOKEN first.[/red]")
        raise typer.Exit(2)
    services = build_services(settings)
    adapter = SlackAdapter.build(services, Engine(services), socket_mode=True)
    token = settings.slack_app_token.get_secret_value()

    # The mail and the other rounds, and the channel's notices, as the web app has them.
    schedule_background(services)
    schedule_deliveries(services, [adapter])

    async def main() -> None:
        # The Web API session, the job queue and its worker (the events' jobs, the
        # channel's notices and card refreshes, the rounds).
        await adapter.startup()
        try:
            await AsyncSocketModeHandler(adapter.app, token).start_async()  # type: ignore[no-untyped-call]
        finally:
            await adapter.shutdown()
            await services.close()

    with contextlib.suppress(KeyboardInterrupt):
        run(main)
