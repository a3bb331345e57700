"""Log redaction hides the enrolment codes staff hand to new hires, whoever logs them."""

from __future__ import annotations

import datetime as dt
import io
import logging

from bot.services import Services
from core.accounts import issue_enrolment_code
from tests.factories import add_student


async def test_an_issued_enrolment_code_never_reaches_the_log_as_issued_or_lower_case(
    services: Services, logged: io.StringIO
) -> None:
    await add_student(
        services,
        id_number="A128573490",
        birthday=dt.date(2001, 3, 14),
        student_id="211303001",
        with_account=True,
    )
    async with services.sessions() as session, session.begin():
        code = await issue_enrolment_code(
            session,
            services.settings.pii_key,
            account="211303001",
            lifetime=dt.timedelta(days=14),
            now=services.clock.now(),
        )
    assert code is not None
    logging.getLogger("aiohttp.client").debug("POST body=%r", {"text": code})
    logging.getLogger("bot.engine").info("text=%s", code.lower())
    shown = logged.getvalue()
    assert code not in shown and code.lower() not in shown
    assert shown.count("[redacted]") == 2


def test_words_joined_by_hyphens_are_left_alone(logged: io.StringIO) -> None:
    logging.getLogger("bot.engine").info("flow=card-list state=with-user-id-42 ABCD-EFGH-JKLM")
    assert logged.getvalue().strip() == "flow=card-list state=with-user-id-42 ABCD-EFGH-JKLM"
