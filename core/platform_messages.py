"""Which platform message shows a keyed reply, so an adapter can edit it in place."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import PlatformMessage


async def remember(
    sessions: async_sessionmaker[AsyncSession],
    *,
    channel: str,
    chat_id: str,
    key: str,
    message_id: str,
    now: dt.datetime,
) -> None:
    async with sessions() as session, session.begin():
        row = await session.get(PlatformMessage, (channel, chat_id, key))
        if row is None:
            session.add(
                PlatformMessage(
                    channel=channel,
                    chat_id=chat_id,
                    key=key,
                    message_id=message_id,
                    updated_at=now,
                )
            )
        else:
            row.message_id = message_id
            row.updated_at = now


async def recall(
    sessions: async_sessionmaker[AsyncSession], *, channel: str, chat_id: str, key: str
) -> str | None:
    async with sessions() as session:
        return await session.scalar(
            select(PlatformMessage.message_id).where(
                PlatformMessage.channel == channel,
                PlatformMessage.chat_id == chat_id,
                PlatformMessage.key == key,
            )
        )
