"""Staff decisions on alumni applications: an application never takes over a record."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.services import Services
from core import alumni
from core.idnumbers import parse_id_number
from core.models import Account, AlumniApplication, Person
from tests.factories import add_student

ID_NUMBER = "F131104093"
BIRTHDAY = dt.date(1985, 11, 5)


async def _application(services: Services, **changes: object) -> int:
    number = parse_id_number(str(changes.pop("id_number", ID_NUMBER)))
    birthday = changes.pop("birthday", BIRTHDAY)
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


async def _approve(services: Services, number: int, override: str | None = None) -> str:
    approval = await alumni.approve(
        services.sessions,
        number,
        profile=services.profile,
        directory=services.directories.remote,
        now=services.clock.now(),
        actor="cli:staff",
        override=override,
    )
    return approval.account


async def _review(services: Services, number: int) -> alumni.Review:
    async with services.sessions() as session:
        application = await session.get(AlumniApplication, number)
        assert application is not None
        return await alumni.review(session, application, services.profile)


async def test_an_application_matching_its_record_in_every_field_is_approved_onto_that_person(
    services: Services,
) -> None:
    person = await add_student(
        services,
        id_number=ID_NUMBER,
        birthday=BIRTHDAY,
        student_id="209203011",
        name_en="Ming-Zhi LIN",
    )
    number = await _application(services)
    checked = await _review(services, number)
    assert checked.clear and checked.person_id == person.id
    assert await _approve(services, number) == "B20920301100"
    async with services.sessions() as session:
        account = await session.scalar(select(Account).where(Account.kind == "alumni"))
        stored = await session.get(Person, person.id)
    assert account is not None and account.person_id == person.id
    # The applicant's e-mail never becomes the person's contact address.
    assert stored is not None and stored.notification_email is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"birthday": dt.date(1985, 5, 6)}, "the birthday differs"),
        ({"name_zh": "莊小惡"}, "the Chinese name differs"),
        ({"name_en": "Chuang Hsiao-O"}, "the English name differs"),
        ({"student_id": "209203099"}, "is not among the records"),
    ],
)
async def test_any_difference_from_the_record_blocks_approval_with_its_reason(
    services: Services, changes: dict[str, object], reason: str
) -> None:
    await add_student(services, id_number=ID_NUMBER, birthday=BIRTHDAY, student_id="209203011")
    number = await _application(services, **changes)
    checked = await _review(services, number)
    assert [c for c in checked.conflicts if reason in c], checked
    with pytest.raises(alumni.DecisionRefused, match=reason):
        await _approve(services, number)
    async with services.sessions() as session:
        assert (await session.scalars(select(Account).where(Account.kind == "alumni"))).all() == []
        application = await session.get(AlumniApplication, number)
    assert application is not None and application.status == "pending"


async def test_an_override_goes_on_without_touching_the_persons_contact_data(
    services: Services,
) -> None:
    person = await add_student(
        services, id_number=ID_NUMBER, birthday=BIRTHDAY, student_id="209203011"
    )
    number = await _application(services, birthday=dt.date(1985, 5, 6), name_zh="莊小惡")
    await _approve(services, number, override="registrar confirmed")
    async with services.sessions() as session:
        stored = await session.get(Person, person.id)
    assert stored is not None
    assert (stored.name_zh, stored.notification_email) == ("林明志", None)


async def test_a_student_id_of_another_person_blocks_even_an_override(services: Services) -> None:
    await add_student(services, id_number="A800000014", birthday=BIRTHDAY, student_id="209203011")
    number = await _application(services)
    with pytest.raises(alumni.DecisionRefused, match="belongs to another person"):
        await _approve(services, number, override="sure")


async def test_a_new_person_gets_the_applicants_contact_address(services: Services) -> None:
    number = await _application(services)
    assert (await _review(services, number)).person_id is None
    await _approve(services, number)
    async with services.sessions() as session:
        person = await session.scalar(select(Person))
    assert person is not None and person.notification_email == "applicant@example.com"
