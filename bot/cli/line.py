"""``helpdesk line rich-menu|set-webhook``: the LINE channel's menu and webhook."""

from __future__ import annotations

from typing import Annotated

import typer
from linebot.v3.messaging import SetWebhookEndpointRequest, TestWebhookEndpointRequest
from rich.markup import escape

from bot.adapters.line import LineAdapter
from bot.adapters.line_menu import render, request
from bot.adapters.line_messages import MENU_NAMES
from bot.cli.common import err, load_settings, out, run
from bot.engine import Engine
from bot.services import Services, build_services
from core.i18n import Translator

line_app = typer.Typer(help="LINE: the rich menu and the webhook.")


def _services() -> Services:
    settings = load_settings()
    if settings.line_channel_access_token is None or settings.line_channel_secret is None:
        err.print(
            "[red]Set HELPDESK_LINE_CHANNEL_SECRET and HELPDESK_LINE_CHANNEL_ACCESS_TOKEN "
            "(LINE Developers console, Messaging API channel) first.[/red]"
        )
        raise typer.Exit(2)
    return build_services(settings)


def _adapter(services: Services) -> LineAdapter:
    """The adapter, built in the running event loop its HTTP client binds to."""
    return LineAdapter.build(services, Engine(services))


async def install_rich_menus(adapter: LineAdapter) -> dict[str, str]:
    """Create each language's menu (replacing ours), upload its image, zh-TW as default."""
    font = adapter.services.settings.line_menu_font
    listed = await adapter.api.get_rich_menu_list()
    for menu in listed.richmenus:
        if menu.name in MENU_NAMES.values():
            await adapter.api.delete_rich_menu(menu.rich_menu_id)
    created: dict[str, str] = {}
    for locale in MENU_NAMES:
        t = Translator(locale)
        menu_id = (await adapter.api.create_rich_menu(request(t, locale))).rich_menu_id
        await adapter.blob.set_rich_menu_image(
            menu_id, body=bytearray(render(t, font)), _headers={"Content-Type": "image/png"}
        )
        created[locale] = menu_id
    # Most users' LINE speaks Chinese; the adapter links the English one per user.
    await adapter.api.set_default_rich_menu(created["zh_TW"])
    return created


@line_app.command("rich-menu")
def rich_menu() -> None:
    """Build the main menu's image in zh-TW and English, upload both, set zh-TW as default."""
    services = _services()

    async def main() -> None:
        adapter = _adapter(services)
        try:
            created = await install_rich_menus(adapter)
        finally:
            await adapter.shutdown()
            await adapter.services.close()
        for locale, menu_id in created.items():
            out.print(f"{locale}: {escape(menu_id)}")

    run(main)


@line_app.command("set-webhook")
def set_webhook(
    url: Annotated[str, typer.Argument(help="Public HTTPS URL ending in /line/webhook.")],
) -> None:
    """Tell LINE where to post events, then have LINE test the endpoint."""
    services = _services()

    async def main() -> None:
        adapter = _adapter(services)
        try:
            await adapter.api.set_webhook_endpoint(SetWebhookEndpointRequest(endpoint=url))
            result = await adapter.api.test_webhook_endpoint(
                TestWebhookEndpointRequest(endpoint=url)
            )
        finally:
            await adapter.shutdown()
            await adapter.services.close()
        if not result.success:
            err.print(
                f"[red]Webhook set, but LINE's test failed:[/red] {escape(str(result.reason))}"
            )
            raise typer.Exit(1)
        out.print(f"Webhook set to {escape(url)} and tested by LINE")

    run(main)
