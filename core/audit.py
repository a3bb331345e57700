"""Audit events: who did what, where, with what outcome; never a secret."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import AuditEvent


def record(
    session: AsyncSession,
    *,
    at: dt.datetime,
    channel: str,
    actor: str,
    flow: str,
    action: str,
    outcome: str,
    **detail: Any,
) -> AuditEvent:
    """Add an audit row to the caller's transaction.

    ``actor`` is a pseudonym (``PiiHasher.chat_user``) or a staff user name; callers
    pass no ID number, birthday, password, token or code in ``detail``.
    """
    event = AuditEvent(
        at=at,
        channel=channel,
        actor=actor,
        flow=flow,
        action=action,
        outcome=outcome,
        detail=detail,
    )
    session.add(event)
    return event
