"""What an adapter sends outside any turn: chat notices and due alumni card refreshes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.card_refresh import CardRefresher
from bot.services import Services
from bot.types import Reply, Text
from core.background import run_every
from core.deliveries import PURGE_INTERVAL_SECONDS, purge_expired
from core.notices import take_pending

Send = Callable[[str, list[Reply]], Awaitable[None]]


class BackgroundDelivery:
    """Delivers one channel's notices and card refreshes, each once, through ``send``."""

    def __init__(self, services: Services, channel: str, send: Send) -> None:
        self.services = services
        self.channel = channel
        self.send = send
        self.refresher = CardRefresher(services)

    async def run_once(self, *, chat_id: str | None = None) -> None:
        """Deliver what is due now (only for ``chat_id``, a console's one chat, if given)."""
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
