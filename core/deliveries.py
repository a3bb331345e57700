"""Processed platform deliveries: the record that makes a redelivery a no-op, and its expiry.

A platform resends an event it thinks was missed for a while (Slack about an hour,
Telegram until the update is confirmed, at most a day), so a delivery id must be
remembered at least that long, and no longer: Telegram reuses update ids (a new token
starts over; after a week without updates they restart at random), so an id kept
forever would one day swallow a real new message.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import ProcessedDelivery

# Longer than every platform's redelivery period (the longest, Telegram's, is 24 hours).
RETENTION = dt.timedelta(hours=24)
# How often the background job forgets expired deliveries.
PURGE_INTERVAL_SECONDS = 600.0
MAX_KEY_LENGTH = 128  # processed_deliveries.delivery_id


def delivery_key(receiver: str, delivery_id: str) -> str:
    """The dedupe key of one delivery: the receiving bot's identity and the platform's id.

    Two bots (a new token, another Slack app or workspace) number their deliveries
    independently, so the id alone is not unique. A key too long for the column is
    replaced by its SHA-256, which is as unique.
    """
    key = f"{receiver}/{delivery_id}"
    if len(key) > MAX_KEY_LENGTH:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


async def purge_expired(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: dt.datetime,
    retention: dt.timedelta = RETENTION,
) -> int:
    """Forget the deliveries processed more than ``retention`` ago; return how many."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            delete(ProcessedDelivery).where(ProcessedDelivery.processed_at < now - retention)
        )
    return int(result.rowcount)  # type: ignore[attr-defined]
