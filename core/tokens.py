"""One-time tokens for links: 256 bits from ``secrets``, stored only as SHA-256.

A token is looked at on GET and consumed only on the form's POST (mail scanners open
links; OWASP Forgot Password cheat sheet). Consuming is one conditional UPDATE, so
when two submissions race exactly one of them gets the token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import OneTimeToken

TOKEN_BYTES = 32  # 256 bits; DESIGN.md asks for at least 128


class Purpose(StrEnum):
    RESET = "reset"  # forgot password: no current password asked
    CHANGE = "change"  # change password: the page asks for the current one first
    LINK_CODE = "link_code"  # a 6-digit code that links a chat to a directory person


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(
    session: AsyncSession,
    *,
    purpose: Purpose,
    subject: str,
    lifetime: dt.timedelta,
    now: dt.datetime,
    data: dict[str, Any] | None = None,
) -> str:
    """Create a token in the caller's transaction; return it (the only clear copy)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        OneTimeToken(
            token_hash=token_hash(token),
            purpose=purpose,
            subject=subject,
            data=data or {},
            expires_at=now + lifetime,
            created_at=now,
        )
    )
    return token


async def find(session: AsyncSession, token: str) -> OneTimeToken | None:
    """The token's row whether or not it is still live (for its locale, say)."""
    return await session.scalar(
        select(OneTimeToken).where(OneTimeToken.token_hash == token_hash(token[:200]))
    )


async def peek(session: AsyncSession, token: str, *, now: dt.datetime) -> OneTimeToken | None:
    """The live token (unused, unexpired), without consuming it."""
    row = await find(session, token)
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    return row


async def consume(session: AsyncSession, token: str, *, now: dt.datetime) -> OneTimeToken | None:
    """Mark the token used, if it still is live; None when it is not (or another took it).

    On PostgreSQL the UPDATE waits for a concurrent one on the same row and then sees
    ``used_at`` set; on SQLite transactions are serialised. Either way one wins.
    """
    consumed = await session.scalar(
        update(OneTimeToken)
        .where(
            OneTimeToken.token_hash == token_hash(token[:200]),
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(OneTimeToken.id)
    )
    if consumed is None:
        return None
    return await session.get(OneTimeToken, consumed, populate_existing=True)


async def reserve_attempt(
    session: AsyncSession, token: str, *, now: dt.datetime, limit: int
) -> OneTimeToken | None:
    """Count one submission against the live token, if it has attempts left.

    The count comes before the work it allows (hashing, checking), so submissions
    racing each other cannot get more than ``limit`` tries between them.
    """
    reserved = await session.scalar(
        update(OneTimeToken)
        .where(
            OneTimeToken.token_hash == token_hash(token[:200]),
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
            OneTimeToken.attempts < limit,
        )
        .values(attempts=OneTimeToken.attempts + 1)
        .returning(OneTimeToken.id)
    )
    if reserved is None:
        return None
    return await session.get(OneTimeToken, reserved, populate_existing=True)


async def end_if_spent(session: AsyncSession, token: str, *, now: dt.datetime, limit: int) -> bool:
    """End the token once it has used up its attempts; whether it ended now."""
    ended = await session.scalar(
        update(OneTimeToken)
        .where(
            OneTimeToken.token_hash == token_hash(token[:200]),
            OneTimeToken.used_at.is_(None),
            OneTimeToken.attempts >= limit,
        )
        .values(used_at=now)
        .returning(OneTimeToken.id)
    )
    return ended is not None


async def end_outstanding(session: AsyncSession, subject: str, *, now: dt.datetime) -> int:
    """End every live token of ``subject`` (a password change voids them all)."""
    result = await session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.subject == subject, OneTimeToken.used_at.is_(None))
        .values(used_at=now)
        .returning(OneTimeToken.id)
    )
    return len(result.all())
