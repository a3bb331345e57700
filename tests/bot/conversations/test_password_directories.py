"""A reset asked for in the chat lands where the user logs in: the bot's tables or slapd.

The same fixture as the password page's (each test over SQL and over a real slapd): the
forgot-password flow through the engine, the mailed link, the page, then a login.
"""

from __future__ import annotations

import httpx

from tests.directory_backends import (
    NEW,
    Backend,
    backend,
    client,
    forgot_in_chat,
    set_on_page,
    slapd_server,
)
from tests.outbox import outbox, password_link_in

__all__ = ["backend", "client", "slapd_server"]

SQL_ID_NUMBER = "F131104093"  # the fixture's SQL student


def _id_number(backend: Backend) -> str:
    return SQL_ID_NUMBER if backend.server is None else backend.server.spare(0).id_number


async def _forgot(backend: Backend, *, id_number: str, user: str = "alice") -> str:
    return await forgot_in_chat(backend.services, backend.account, id_number, user=user)


async def test_a_reset_asked_for_in_the_chat_changes_the_password_where_the_user_logs_in(
    backend: Backend, client: httpx.AsyncClient
) -> None:
    await _forgot(backend, id_number=_id_number(backend))
    (mail,) = await outbox(backend.services)
    done = await set_on_page(client, password_link_in(mail.body), NEW)
    assert done.status_code == 200 and "Password changed" in done.text
    assert await backend.logs_in(NEW)
    assert not await backend.logs_in(backend.password)


async def test_a_reset_asked_for_with_someone_elses_id_number_mails_nothing_and_changes_nothing(
    backend: Backend,
) -> None:
    owner = await _forgot(backend, id_number=_id_number(backend), user="owner")
    stranger = await _forgot(backend, id_number="A123456789", user="stranger")
    assert stranger.encode() == owner.encode()
    assert len(await outbox(backend.services)) == 1  # the owner's only
    assert await backend.logs_in(backend.password)
