"""Staff decisions on alumni applications: an application never takes over a record."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.services import Services
from core import alumni
from core.models import Account, AlumniApplication, Person
from tests.factories import (
    APPLICANT_BIRTHDAY,
    APPLICANT_ID_NUMBER,
    add_application,
    add_student,
    approve,
)


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
        id_number=APPLICANT_ID_NUMBER,
        birthday=APPLICANT_BIRTHDAY,
        student_id="209203011",
        name_en="Ming-Zhi LIN",
    )
    number = await add_application(services)
    checked = await _review(services, number)
    assert checked.clear and checked.person_id == person.id
    assert (await approve(services, number)).account == "B20920301100"
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
    await add_student(
        services, id_number=APPLICANT_ID_NUMBER, birthday=APPLICANT_BIRTHDAY, student_id="209203011"
    )
    number = await add_application(services, **changes)
    checked = await _review(services, number)
    assert [c for c in checked.conflicts if reason in c], checked
    with pytest.raises(alumni.DecisionRefused, match=reason):
        await approve(services, number)
    async with services.sessions() as session:
        assert (await session.scalars(select(Account).where(Account.kind == "alumni"))).all() == []
        application = await session.get(AlumniApplication, number)
    assert application is not None and application.status == "pending"


async def test_an_override_goes_on_without_touching_the_persons_contact_data(
    services: Services,
) -> None:
    person = await add_student(
        services, id_number=APPLICANT_ID_NUMBER, birthday=APPLICANT_BIRTHDAY, student_id="209203011"
    )
    number = await add_application(services, birthday=dt.date(1985, 5, 6), name_zh="莊小惡")
    await approve(services, number, override="registrar confirmed")
    async with services.sessions() as session:
        stored = await session.get(Person, person.id)
    assert stored is not None
    assert (stored.name_zh, stored.notification_email) == ("林明志", None)


async def test_a_student_id_of_another_person_blocks_even_an_override(services: Services) -> None:
    await add_student(
        services, id_number="A800000014", birthday=APPLICANT_BIRTHDAY, student_id="209203011"
    )
    number = await add_application(services)
    with pytest.raises(alumni.DecisionRefused, match="belongs to another person"):
        await approve(services, number, override="sure")


async def test_a_new_person_gets_the_applicants_contact_address(services: Services) -> None:
    number = await add_application(services)
    assert (await _review(services, number)).person_id is None
    await approve(services, number)
    async with services.sessions() as session:
        person = await session.scalar(select(Person))
    assert person is not None and person.notification_email == "applicant@example.com"
