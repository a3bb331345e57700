"""``helpdesk telegram set-webhook|poll``: register the webhook, or long-poll."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import typer
from rich.markup import escape

from bot.adapters.telegram import TelegramAdapter
from bot.cli.common import err, load_settings, out, run, setup_logging
from bot.engine import Engine
from bot.services import Services, build_services
from bot.web.app import schedule_background, schedule_deliveries
from core.settings import Settings

telegram_app = typer.Typer(help="Telegram: webhook registration, long polling.")


def _adapter(settings: Settings) -> tuple[Services, TelegramAdapter]:
    if settings.telegram_token is None:
        err.print("[red]Set HELPDESK_TELEGRAM_TOKEN (from BotFather) first.[/red]")
        raise typer.Exit(2)
    services = build_services(settings)
    return services, TelegramAdapter.build(services, Engine(services), polling=True)


@telegram_app.command("set-webhook")
def set_webhook(
    url: Annotated[str, typer.Argument(help="Public HTTPS URL ending in /telegram/webhook.")],
) -> None:
    """Tell Telegram where to post updates, with the secret token from the settings."""
    settings = load_settings()
    if settings.telegram_secret is None:
        err.print("[red]Set HELPDESK_TELEGRAM_SECRET (any long random string) first.[/red]")
        raise typer.Exit(2)
    secret = settings.telegram_secret.get_secret_value()
    services, adapter = _adapter(settings)

    async def main() -> None:
        try:
            async with adapter.application.bot as bot:
                await bot.set_webhook(url, secret_token=secret)
        finally:
            await services.close()
        out.print(f"Webhook set to {escape(url)}")

    run(main)


@telegram_app.command("poll")
def poll() -> None:
    """Long polling for a single process (several pollers conflict: use the webhook then)."""
    settings = load_settings()
    setup_logging(settings)
    services, adapter = _adapter(settings)

    schedule_background(services)
    schedule_deliveries(services, [adapter])

    async def main() -> None:
        application = adapter.application
        async with application:
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(drop_pending_updates=False)
            # The queue's worker: the mail, notices, card refreshes and the other rounds.
            await services.jobs.start()
            try:
                await asyncio.Event().wait()
            finally:
                await services.jobs.stop()
                await application.updater.stop()
                await application.stop()
                await services.close()

    with contextlib.suppress(KeyboardInterrupt):
        run(main)
