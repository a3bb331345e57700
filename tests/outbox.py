"""What the help desk mailed: the outbox table, and the code or link a mail carries."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.services import Services
from core.models import OutboundMail


def code_in(text: str) -> str:
    """The 6-digit code a mail's text carries."""
    found = re.search(r"\b(\d{6})\b", text)
    assert found is not None, text
    return found.group(1)


def password_link_in(text: str) -> str:
    """The one-time password link (``…/password/<token>``) a mail's text carries."""
    found = re.search(r"\S+/password/\S{40,}", text)
    assert found is not None, text
    return found.group(0)


async def outbox(services: Services, to: str | None = None) -> list[OutboundMail]:
    """The mails queued so far (to ``to`` only, if given), oldest first."""
    query = select(OutboundMail).order_by(OutboundMail.id)
    if to is not None:
        query = query.where(OutboundMail.to_address == to)
    async with services.sessions() as session:
        return list(await session.scalars(query))


async def last_code(services: Services) -> str:
    """The code in the latest mail queued."""
    mails = await outbox(services)
    assert mails, "nothing was mailed"
    return code_in(mails[-1].body)
