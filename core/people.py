"""People in the institution's directory, as the rest of the bot reads them: plain values."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Person


@dataclass(frozen=True, slots=True)
class Names:
    """A person's names as the directory holds them (the passport's English name)."""

    name_zh: str
    name_en: str

    def in_language(self, locale: str) -> str:
        """The Chinese name for a zh-TW reader, the English one for anyone else."""
        return self.name_zh if locale == "zh_TW" else self.name_en


async def names(session: AsyncSession, person_id: int) -> Names | None:
    person = await session.get(Person, person_id)
    return None if person is None else Names(person.name_zh, person.name_en)


async def notification_address(session: AsyncSession, person_id: int) -> str | None:
    """The address on file for the person's notices, if any."""
    person = await session.get(Person, person_id)
    return None if person is None else person.notification_email


async def directory_is_empty(session: AsyncSession) -> bool:
    """Whether no one is in the directory yet (nothing imported, no demo data)."""
    return await session.scalar(select(Person.id).limit(1)) is None
