"""Chat notices: messages for a chat outside any turn, delivered once by its adapter."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import ChatNotice


async def take_pending(
    sessions: async_sessionmaker[AsyncSession],
    *,
    channel: str,
    now: dt.datetime,
    chat_id: str | None = None,
    limit: int = 50,
) -> list[ChatNotice]:
    """Claim undelivered notices of a channel (SKIP LOCKED) and mark them delivered."""
    async with sessions() as session, session.begin():
        query = select(ChatNotice).where(
            ChatNotice.channel == channel, ChatNotice.delivered_at.is_(None)
        )
        if chat_id is not None:
            query = query.where(ChatNotice.chat_id == chat_id)
        rows = (
            await session.scalars(
                query.order_by(ChatNotice.id).limit(limit).with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            row.delivered_at = now
        return list(rows)
