"""Accounts and mailboxes whose password can be set: the words their password must avoid."""

from __future__ import annotations

import datetime as dt

from bot.services import Services
from core.accounts import find_target, personal_words
from tests.factories import add_student


async def test_a_mailbox_password_must_avoid_the_owners_student_id_as_the_cli_says(
    services: Services,
) -> None:
    # The page named only the account and the names; `helpdesk policy check` added the
    # student IDs, so the two could disagree on the same password.
    await add_student(
        services, id_number="A128573490", birthday=dt.date(2001, 3, 14), student_id="211303001"
    )
    async with services.sessions() as session:
        target = await find_target(
            session,
            services.profile,
            name="a211303001@grad.demo.edu.tw",
            id_number_hash=None,
        )
        assert target is not None and target.kind == "mailbox"
        words = await personal_words(session, target)
    assert words == ["a211303001@grad.demo.edu.tw", "211303001", "林明志", "Lin Ming-Zhi"]
