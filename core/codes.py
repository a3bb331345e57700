"""Six-digit one-time codes that prove control of the address on file (chat linking).

A code has only a million values, so it is kept as an HMAC under the server's key (a
plain hash of it would be reversed at once), bound to the chat that asked, and ends
after a few wrong answers or minutes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import OneTimeToken
from core.tokens import Purpose


class CodeCheck(StrEnum):
    OK = "ok"
    WRONG = "wrong"  # wrong, attempts left
    ENDED = "ended"  # too many wrong answers, expired, or never issued


def _digest(key: bytes, subject: str, code: str) -> str:
    return hmac.new(key, f"code\x00{subject}\x00{code}".encode(), hashlib.sha256).hexdigest()


async def issue_code(
    session: AsyncSession,
    key: bytes,
    *,
    subject: str,
    lifetime: dt.timedelta,
    now: dt.datetime,
    data: dict[str, Any],
) -> str:
    """End the subject's earlier codes and create a new one; return it (the only copy)."""
    for old in await _live(session, subject, now):
        old.used_at = now
    code = f"{secrets.randbelow(1_000_000):06d}"
    session.add(
        OneTimeToken(
            token_hash=_digest(key, subject, code),
            purpose=Purpose.LINK_CODE,
            subject=subject,
            data=data,
            expires_at=now + lifetime,
            created_at=now,
        )
    )
    return code


async def check_code(
    session: AsyncSession,
    key: bytes,
    *,
    subject: str,
    code: str,
    max_attempts: int,
    now: dt.datetime,
) -> tuple[CodeCheck, OneTimeToken | None]:
    """Check an answer against the subject's live code; a right one is used up."""
    rows = await _live(session, subject, now)
    if not rows:
        return CodeCheck.ENDED, None
    row = rows[0]
    if hmac.compare_digest(row.token_hash, _digest(key, subject, code)):
        row.used_at = now
        return CodeCheck.OK, row
    row.attempts += 1
    if row.attempts >= max_attempts:
        row.used_at = now
        return CodeCheck.ENDED, None
    return CodeCheck.WRONG, None


async def _live(session: AsyncSession, subject: str, now: dt.datetime) -> list[OneTimeToken]:
    rows = await session.scalars(
        select(OneTimeToken)
        .where(
            OneTimeToken.subject == subject,
            OneTimeToken.purpose == Purpose.LINK_CODE,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
        )
        .order_by(OneTimeToken.id.desc())
        .with_for_update()
    )
    return list(rows)
