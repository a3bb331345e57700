"""Applying for a new mailbox in core: who may, the names offered, creating it."""

from __future__ import annotations

from sqlalchemy import update

from bot.services import Services
from core import mailbox_applications as applications
from core.mailbox_applications import Ineligible, NewMailbox, Refusal
from core.mailboxes import of_person
from core.models import MailboxCondition, Person, Role, StudentRecord
from tests.factories import add_lin

NOTIFY = "ming@example.org"


async def _lin(services: Services, *, status: str, role: str, notify: str | None = NOTIFY) -> int:
    person = await add_lin(services, campus_mail=False)
    async with services.sessions() as session, session.begin():
        await session.execute(update(StudentRecord).values(status=status))
        await session.execute(update(Person).values(role=role, notification_email=notify))
    return person.id


async def _refusal(services: Services, person_id: int) -> Ineligible | None:
    async with services.sessions() as session:
        return await applications.refusal(session, services.profile, person_id)


async def test_an_enrolled_student_with_an_address_may_apply_once(services: Services) -> None:
    lin = await _lin(services, status="enrolled", role=Role.STUDENT)
    assert await _refusal(services, lin) is None
    async with services.sessions() as session, session.begin():
        offered = await applications.names(session, services.profile, lin)
        assert offered[:2] == ["ming-zhi.lin", "mingzhi.lin"]
        created = await applications.create(
            session, services.profile, lin, "mzlin", now=services.clock.now()
        )
    assert created is not None
    assert created == NewMailbox(
        id=created.id,
        person_id=lin,
        address="mzlin@demo.edu.tw",
        quota_limit_kb=62914560,
        notification_address=NOTIFY,
    )
    assert await _refusal(services, lin) == Ineligible(Refusal.HAS_MAILBOX, "mzlin@demo.edu.tw")
    async with services.sessions() as session:
        (box,) = await of_person(session, lin, takes_effect_minutes=10, now=services.clock.now())
        assert box.condition == MailboxCondition.PENDING
        # Taken now: no longer offered, and creating it again creates nothing.
        assert "mzlin" not in await applications.names(session, services.profile, lin)
        again = await applications.create(
            session, services.profile, lin, "mzlin", now=services.clock.now()
        )
        assert again is None


async def test_a_name_not_offered_is_not_created(services: Services) -> None:
    lin = await _lin(services, status="enrolled", role=Role.STUDENT)
    async with services.sessions() as session, session.begin():
        made = await applications.create(
            session, services.profile, lin, "postmaster", now=services.clock.now()
        )
        assert made is None
        assert await of_person(session, lin, now=services.clock.now()) == []


async def test_a_graduate_may_not_apply_and_staff_may(services: Services) -> None:
    graduate = await _lin(services, status="graduated", role=Role.STUDENT)
    assert await _refusal(services, graduate) == Ineligible(Refusal.NOT_ALLOWED)
    async with services.sessions() as session, session.begin():
        await session.execute(update(Person).values(role=Role.STAFF))
    assert await _refusal(services, graduate) is None


async def test_without_an_address_on_file_there_is_nowhere_to_send_the_link(
    services: Services,
) -> None:
    lin = await _lin(services, status="returning", role=Role.STUDENT, notify=None)
    assert await _refusal(services, lin) == Ineligible(Refusal.NO_ADDRESS)


async def test_a_designated_address_receives_the_notifications(services: Services) -> None:
    lin = await _lin(services, status="enrolled", role=Role.STUDENT)
    async with services.sessions() as session, session.begin():
        created = await applications.create(
            session, services.profile, lin, "mzlin", now=services.clock.now()
        )
        assert created is not None
        await applications.designate(session, created.id, "other@example.org")
    async with services.sessions() as session:
        (box,) = await of_person(session, lin, now=services.clock.now())
    assert box.notification_address == "other@example.org"
