"""Directory rows for tests, written through the same keyed hashes as production."""

from __future__ import annotations

import datetime as dt

from bot.services import Services
from core.idnumbers import parse_id_number
from core.models import Person, Role, StudentRecord


async def add_student(
    services: Services,
    *,
    id_number: str,
    birthday: dt.date,
    student_id: str,
    degree_level: str = "master",
    name_zh: str = "林明志",
    name_en: str = "Lin Ming-Zhi",
) -> Person:
    number = parse_id_number(id_number)
    async with services.sessions() as session, session.begin():
        person = Person(
            name_zh=name_zh,
            name_en=name_en,
            role=Role.STUDENT,
            id_number_hash=services.pii.id_number(number.value),
            birthday_hash=services.pii.birthday(birthday),
            id_number_masked=number.masked(),
            notification_email=None,
            created_at=services.clock.now(),
        )
        session.add(person)
        await session.flush()
        session.add(
            StudentRecord(
                person_id=person.id,
                student_id=student_id,
                degree_level=degree_level,
                department="Computer Science",
                entry_year=113,
                status="enrolled",
            )
        )
    return person
