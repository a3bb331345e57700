"""Directory queries for the flows."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Person, StudentRecord
from core.pii import PiiHasher


async def find_student_ids(
    session: AsyncSession,
    pii: PiiHasher,
    *,
    id_number_hash: str,
    birthday: dt.date,
    degree_level: str,
) -> list[str]:
    """Student IDs of the person with this ID number and birthday in this degree level.

    One query whatever the outcome, so a miss costs what a match costs.
    """
    rows = await session.scalars(
        select(StudentRecord.student_id)
        .join(Person, StudentRecord.person_id == Person.id)
        .where(
            Person.id_number_hash == id_number_hash,
            Person.birthday_hash == pii.birthday(birthday),
            StudentRecord.degree_level == degree_level,
        )
        .order_by(StudentRecord.entry_year.desc(), StudentRecord.student_id)
    )
    return list(rows)
