"""What an adapter sends outside any turn: chat notices and due alumni card refreshes.

On a served platform (Telegram, Slack, LINE) a channel's delivery is the adapter's
``deliver_background``, a periodic job of the process's job queue every
``DELIVERY_SECONDS`` (bot/web/app.py schedules it, core/jobs.py runs it): with several
workers each round runs once, in one of them, and a failed round is retried with the
queue's backoff. The rounds that are no channel's (queuing the reminders before a
password expires, ``core.notices``, and forgetting old processed deliveries) are
periodic jobs of their own (``queue_reminders``, ``purge_deliveries``). The console, one
process and one chat, runs ``run_once`` in its own loop, reminders included.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

from bot.card_refresh import CardRefresher
from bot.services import Services
from bot.types import Reply, Text
from core.deliveries import purge_expired
from core.notices import queue_expiry_reminders, take_pending

Send = Callable[[str, list[Reply]], Awaitable[None]]

# Reminders are due by the day; a look every ten minutes is plenty.
REMINDER_INTERVAL_SECONDS = 600.0
# A channel's notices and card refreshes: a card's QR code is renewed every few seconds.
DELIVERY_SECONDS = 1.0


async def queue_reminders(services: Services) -> int:
    """Queue the chat reminders of passwords about to expire (each once)."""
    return await queue_expiry_reminders(
        services.sessions, profile=services.profile, now=services.clock.now()
    )


async def purge_deliveries(services: Services) -> int:
    """Forget processed deliveries older than every platform's redelivery period."""
    return await purge_expired(services.sessions, now=services.clock.now())


class BackgroundDelivery:
    """Delivers one channel's notices and card refreshes, each once, through ``send``."""

    def __init__(self, services: Services, channel: str, send: Send) -> None:
        self.services = services
        self.channel = channel
        self.send = send
        self.refresher = CardRefresher(services)
        self._reminders_at: dt.datetime | None = None
        # One round at a time in this process: a round asked for by hand starts after
        # the job's round in progress has sent what it took.
        self.lock = asyncio.Lock()

    async def run_once(self, *, chat_id: str | None = None) -> None:
        """Queue due reminders (every ten minutes), then deliver what is due now.

        The console's round (``chat_id``, its one chat); a served platform's rounds are
        ``deliver`` on the job queue, with the reminders a job of their own.
        """
        now = self.services.clock.now()
        if self._reminders_at is None or now >= self._reminders_at:
            self._reminders_at = now + dt.timedelta(seconds=REMINDER_INTERVAL_SECONDS)
            await queue_reminders(self.services)
        await self.deliver(chat_id=chat_id)

    async def deliver(self, *, chat_id: str | None = None) -> None:
        """Deliver this channel's due notices and card refreshes (only ``chat_id``'s, if given)."""
        for notice in await take_pending(
            self.services.sessions,
            channel=self.channel,
            chat_id=chat_id,
            now=self.services.clock.now(),
        ):
            await self.send(notice.chat_id, [Text(notice.text)])
        for refresh in await self.refresher.run_once(channel=self.channel):
            if chat_id is None or refresh.chat_id == chat_id:
                await self.send(refresh.chat_id, [refresh.edit or Text(refresh.closed_text or "")])
