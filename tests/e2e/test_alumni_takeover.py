"""The identity-takeover attack on alumni approval, as a transcript through chat and CLI.

An applicant types someone else's ID number with their own name, a wrong birthday,
an unused student ID and their own e-mail. Staff see the application flagged before
deciding, a plain approval is refused, and even an explicit override (audited) never
hands the applicant the person's contact data.
"""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import select

from core.db import create_engine, session_factory
from core.models import Account, AuditEvent, Person
from core.pii import PiiHasher
from core.settings import normalise_database_url
from tests.conftest import TEST_SECRET
from tests.e2e.test_alumni_transcript import FLOW, _answers, _as
from tests.e2e.test_cli import helpdesk
from tests.e2e.test_console import chat

VICTIM_ID = "H803527162"  # 阮文安 of the demo directory: no notification address on file


async def _victim_and_accounts(url: str) -> tuple[Person, list[str], list[AuditEvent]]:
    engine = create_engine(normalise_database_url(url))
    try:
        async with session_factory(engine)() as session:
            person = await session.scalar(
                select(Person).where(
                    Person.id_number_hash == PiiHasher(TEST_SECRET.encode()).id_number(VICTIM_ID)
                )
            )
            assert person is not None
            accounts = list(
                await session.scalars(
                    select(Account.username).where(Account.person_id == person.id)
                )
            )
            events = list(
                await session.scalars(select(AuditEvent).where(AuditEvent.flow == "alumni_admin"))
            )
            return person, accounts, events
    finally:
        await engine.dispose()


def test_an_application_with_someone_elses_id_number_is_flagged_and_never_merged_silently(
    env: dict[str, str],
) -> None:
    assert helpdesk(env, "db", "seed-demo").returncode == 0
    before, accounts_before, _ = asyncio.run(_victim_and_accounts(env["DATABASE_URL"]))
    assert before.notification_email is None

    attacker = _as(env, "mallory")
    answers = _answers(
        id_number=VICTIM_ID,
        name_zh="莊小惡",
        name_en="Chuang Hsiao-O",
        student_id="209203099",
        email="mallory@example.com",
    )
    out = chat(attacker, "en", [FLOW, *answers, "I agree", "Submit"])
    received = re.search(r"was received \(number (\d+)\)", out)
    assert received is not None, out
    number = received.group(1)

    # Flagged in the list, before anyone decides, with the reasons.
    listed = helpdesk(env, "alumni", "applications")
    assert listed.returncode == 0, listed.stderr
    flat = " ".join(listed.stdout.split())
    assert "⚠ CONFLICT" in listed.stdout
    for reason in ("the birthday differs", "the Chinese name differs", "English name differs"):
        assert reason in flat.replace("│ ", "").replace(" │", ""), listed.stdout
    assert VICTIM_ID not in listed.stdout

    # A plain approval is refused, and changes nothing.
    refused = helpdesk(env, "alumni", "approve", number)
    assert refused.returncode == 1
    assert "conflicts with the directory" in refused.stderr
    assert "--override" in refused.stderr
    person, accounts, events = asyncio.run(_victim_and_accounts(env["DATABASE_URL"]))
    assert person.notification_email is None and accounts == accounts_before
    assert events == []
    assert "approved" not in chat(attacker, "en", ["/menu"])

    # An explicit override goes on, is audited with its reason, and still never gives
    # the applicant's address to the person on file.
    overridden = helpdesk(
        env, "alumni", "approve", number, "--override", "Registrar confirmed by phone"
    )
    assert overridden.returncode == 0, overridden.stderr
    person, accounts, events = asyncio.run(_victim_and_accounts(env["DATABASE_URL"]))
    assert person.notification_email is None
    assert person.name_zh == "阮文安"
    (event,) = events
    assert event.outcome == "override"
    assert event.detail["override"] == "Registrar confirmed by phone"
    assert any("birthday differs" in conflict for conflict in event.detail["conflicts"])
