"""Directory rows for tests, written through the same keyed hashes as production."""

from __future__ import annotations

import datetime as dt

from bot.services import Services
from core.idnumbers import parse_id_number
from core.models import Account, Mailbox, MailboxCondition, Person, Role, StudentRecord


async def add_student(
    services: Services,
    *,
    id_number: str,
    birthday: dt.date,
    student_id: str,
    degree_level: str = "master",
    name_zh: str = "林明志",
    name_en: str = "Lin Ming-Zhi",
    with_account: bool = False,
    password: str = "Old-Passw0rd!",
    campus_mail: bool = True,
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
        if with_account:
            session.add(
                Account(
                    person_id=person.id,
                    username=student_id,
                    kind="portal",
                    password_hash=services.passwords.hash_sync(password),
                    password_changed_at=services.clock.now(),
                    must_change=False,
                )
            )
        address = services.profile.accounts.campus_mail_for(student_id)
        if campus_mail and address:
            session.add(
                Mailbox(
                    person_id=person.id,
                    address=address,
                    condition=MailboxCondition.NORMAL,
                    quota_used_kb=0,
                    quota_limit_kb=services.profile.mail.default_quota_kb,
                    notification_address=None,
                    password_hash=None,
                    password_changed_at=None,
                    created_at=services.clock.now(),
                )
            )
    return person
