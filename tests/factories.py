"""Directory rows for tests, written through the same keyed hashes as production."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.card_images import cipher_of
from bot.services import Services
from core import alumni, tokens
from core.cards import issue_card
from core.directory import link_subject
from core.idnumbers import parse_id_number
from core.models import (
    Account,
    AlumniApplication,
    Mailbox,
    MailboxCondition,
    Person,
    Role,
    StudentRecord,
)

# Seed 001's master's student Lin Ming-Zhi, the one most tests talk as.
LIN_ID_NUMBER = "F131104093"
LIN_BIRTHDAY = dt.date(1996, 1, 2)
LIN_STUDENT_ID = "211300001"
# An alumnus with an alumni card in most card tests.
WANG_STUDENT_ID = "109205003"
# What an alumni application says unless a test says otherwise.
APPLICANT_ID_NUMBER = "F131104093"
APPLICANT_BIRTHDAY = dt.date(1985, 11, 5)


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


async def add_lin(services: Services, **extra: Any) -> Person:
    """Seed 001's student Lin Ming-Zhi (F131104093, born 1996-01-02, student ID 211300001)."""
    return await add_student(
        services,
        id_number=LIN_ID_NUMBER,
        birthday=LIN_BIRTHDAY,
        student_id=LIN_STUDENT_ID,
        **extra,
    )


async def password_link(
    services: Services,
    name: str,
    *,
    purpose: tokens.Purpose = tokens.Purpose.RESET,
    locale: str = "en",
) -> str:
    """The token of a one-time password link for the account or mailbox ``name``, as the
    chat would have mailed it to the user ``alice`` of the ``test`` channel."""
    async with services.sessions() as session, session.begin():
        account = await services.directories(session).find_target(name, id_number_hash=None)
        assert account is not None, name
        return await tokens.issue(
            session,
            purpose=purpose,
            subject=link_subject(account),
            lifetime=dt.timedelta(minutes=15),
            now=services.clock.now(),
            data={"locale": locale, "channel": "test", "chat_id": "alice"},
        )


async def add_wang(services: Services, **extra: Any) -> Person:
    """The alumnus Wang Da-Tong (born 1985-11-05, student ID 109205003), with a campus
    mailbox to receive a linking code."""
    fields: dict[str, Any] = {"name_zh": "王大同", "name_en": "Wang Da-Tong", **extra}
    return await add_student(
        services,
        id_number="F131104093",
        birthday=dt.date(1985, 11, 5),
        student_id=WANG_STUDENT_ID,
        **fields,
    )


async def issue_electronic_card(
    services: Services, person_id: int, *, valid_until: dt.date = dt.date(2030, 6, 30)
) -> int:
    """Issue ``person_id`` an electronic alumni card; returns its id."""
    async with services.sessions() as session, session.begin():
        card = await issue_card(
            session,
            cipher_of(services),
            person_id=person_id,
            card_type="electronic",
            valid_until=valid_until,
            now=services.clock.now(),
        )
        return card.id


async def add_application(services: Services, **changes: object) -> int:
    """A pending alumni application from the chat ``applicant`` of the ``test`` channel
    (Lin Ming-Zhi, student 209203011, master's, applicant@example.com), ``changes``
    aside; its number. ``id_number`` and ``birthday`` are stored as the chat stores
    them: hashed, the number also masked."""
    number = parse_id_number(str(changes.pop("id_number", APPLICANT_ID_NUMBER)))
    birthday = changes.pop("birthday", APPLICANT_BIRTHDAY)
    assert isinstance(birthday, dt.date)
    fields: dict[str, object] = {
        "channel": "test",
        "chat_id": "applicant",
        "locale": "en",
        "name_zh": "林明志",
        "name_en": "Lin Ming-Zhi",
        "sex": "male",
        "id_number_hash": services.pii.id_number(number.value),
        "id_number_masked": number.masked(),
        "birthday_hash": services.pii.birthday(birthday),
        "default_password_hash": "x",
        "degree_level": "master",
        "department": "CS",
        "student_id": "209203011",
        "entry_year": 2009,
        "graduation_year": 2013,
        "mobile": "0912345678",
        "email": "applicant@example.com",
        "address": "Taipei",
        "consent_at": services.clock.now(),
        "created_at": services.clock.now(),
        **changes,
    }
    async with services.sessions() as session, session.begin():
        application = AlumniApplication(**fields)
        session.add(application)
        await session.flush()
        return application.id


async def approve(services: Services, number: int, override: str | None = None) -> alumni.Approval:
    """Approve application ``number`` as the staff user ``staff`` does on the command
    line, into the directory ``services`` are pointed at (or the bot's tables)."""
    return await alumni.approve(
        services.sessions,
        number,
        profile=services.profile,
        directory=services.directories.remote,
        now=services.clock.now(),
        actor="cli:staff",
        override=override,
    )
