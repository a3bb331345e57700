"""What an adapter sends outside any turn: chat notices and due alumni card refreshes.

The same loop queues the reminders before a password expires (``core.notices``) and
forgets old processed deliveries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

from bot.card_refresh import CardRefresher
from bot.services import Services
from bot.types import Reply, Text
from core.background import run_every
from core.deliveries import PURGE_INTERVAL_SECONDS, purge_expired
from core.notices import queue_expiry_reminders, take_pending

Send = Callable[[str, list[Reply]], Awaitable[None]]

# Reminders are due by the day; a look every ten minutes is plenty.
REMINDER_INTERVAL_SECONDS = 600.0


class BackgroundDelivery:
    """Delivers one channel's notices and card refreshes, each once, through ``send``."""

    def __init__(self, services: Services, channel: str, send: Send) -> None:
        self.services = services
        self.channel = channel
        self.send = send
        self.refresher = CardRefresher(services)
        self._reminders_at: dt.datetime | None = None

    async def run_once(self, *, chat_id: str | None = None) -> None:
        """Deliver what is due now (only for ``chat_id``, a console's one chat, if given)."""
        now = self.services.clock.now()
        if self._reminders_at is None or now >= self._reminders_at:
            self._reminders_at = now + dt.timedelta(seconds=REMINDER_INTERVAL_SECONDS)
            await self.queue_reminders()
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

    async def queue_reminders(self) -> int:
        """Queue the chat reminders of passwords about to expire (each once)."""
        return await queue_expiry_reminders(
            self.services.sessions,
            profile=self.services.profile,
            now=self.services.clock.now(),
        )

    async def purge_deliveries(self) -> int:
        """Forget processed deliveries older than every platform's redelivery period."""
        return await purge_expired(self.services.sessions, now=self.services.clock.now())

    async def run_forever(
        self, interval: float = 1.0, *, purge_interval: float = PURGE_INTERVAL_SECONDS
    ) -> None:
        """Deliver every ``interval`` seconds and purge old deliveries, until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(
                run_every(interval, self.run_once, name=f"{self.channel} background delivery")
            )
            group.create_task(
                run_every(
                    purge_interval,
                    self.purge_deliveries,
                    name=f"{self.channel} processed-delivery cleanup",
                )
            )
