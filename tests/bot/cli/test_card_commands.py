"""``helpdesk card``: each decision is told to the card's owner in their chat's language."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select

from bot.cli.card import APPROVED, REJECTED, REVOKED
from bot.services import Services, build_services
from core.i18n import Translator
from core.models import AlumniCard, CardStatus, ChatIdentity, ChatNotice
from core.settings import Settings
from tests.bot.cli.conftest import helpdesk
from tests.factories import add_student


def _card_of_a_linked_alumnus(settings: Settings, locale: str, status: str) -> int:
    async def main() -> int:
        services = build_services(settings)
        try:
            person = await add_student(
                services, id_number="F131104093", birthday=dt.date(1985, 11, 5), student_id="1"
            )
            async with services.sessions() as session, session.begin():
                now = services.clock.now()
                session.add(
                    ChatIdentity(
                        channel="test",
                        platform_user_id="alumnus",
                        locale=locale,
                        person_id=person.id,
                        linked_at=now,
                        created_at=now,
                    )
                )
                card = AlumniCard(
                    person_id=person.id, card_type="electronic", status=status, applied_at=now
                )
                session.add(card)
                await session.flush()
                return card.id
        finally:
            await services.close()

    return asyncio.run(main())


def _notice(settings: Settings) -> str:
    async def main(services: Services) -> str:
        async with services.sessions() as session:
            (notice,) = (await session.scalars(select(ChatNotice))).all()
        return notice.text

    async def run() -> str:
        services = build_services(settings)
        try:
            return await main(services)
        finally:
            await services.close()

    return asyncio.run(run())


@pytest.mark.parametrize("locale", ["zh_TW", "en"])
@pytest.mark.parametrize(
    ("command", "status", "msgid", "params"),
    [
        (("approve",), CardStatus.PENDING, APPROVED, {}),
        (
            ("reject", "--reason", "duplicate"),
            CardStatus.PENDING,
            REJECTED,
            {"reason": "duplicate"},
        ),
        (("revoke",), CardStatus.ACTIVE, REVOKED, {}),
    ],
)
def test_each_card_decision_reaches_the_owner_in_the_language_they_chat_in(
    cli_env: Settings,
    locale: str,
    command: tuple[str, ...],
    status: str,
    msgid: str,
    params: dict[str, str],
) -> None:
    card = _card_of_a_linked_alumnus(cli_env, locale, status)
    result = helpdesk("card", command[0], str(card), *command[1:])
    assert result.exit_code == 0, result.output
    assert _notice(cli_env) == Translator(locale)._(msgid, card=card, **params)
