"""The mailbox, mailbox-application, alumni-card and handoff flows on a chat linked to
an entry of a real slapd (no ``people`` row), beside the bot's own tables.

Each flow answers from the directory entry the chat is linked to, and a directory that
does not answer gives the one "temporarily unavailable" reply.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from bot.desk import OFFICE_NAMES
from bot.engine import Engine
from core import cases
from core.i18n import Translator
from core.models import Case, ChatIdentity
from core.profiles import Office
from core.settings import Settings
from tests.bot.conversations.conftest import link
from tests.chat import Chat
from tests.directory_backends import (
    NEW,
    Backend,
    backend,
    change_directory,
    client,
    set_on_page,
    slapd_server,
)
from tests.outbox import outbox, password_link_in

__all__ = ["backend", "client", "slapd_server"]

UNAVAILABLE = "The service is temporarily unavailable. Nothing was changed"
on_ldap = pytest.mark.parametrize("backend", ["ldap"], indirect=True)


def _mailbox(backend: Backend) -> str:
    """The mailbox of the backend's account: its campus mailbox, or the entry's mail."""
    if backend.server is None:
        return f"a{backend.account}@grad.demo.edu.tw"
    mail = backend.server.account(backend.account).mail
    assert mail is not None
    return mail


async def _linked(
    backend: Backend, account: str | None = None, *, user: str = "alice", locale: str = "en"
) -> Chat:
    chat = Chat(Engine(backend.services), user=user, locale=locale)
    await link(chat, backend.services, account or backend.account)
    assert await _identity(backend, chat) is not None
    return chat


def _contact(backend: Backend, office: Office) -> str:
    """How a reply names the office: the profile's entry, else the office's own name."""
    contact = backend.services.profile.contacts.get(office)
    if contact is None:
        return f"Please contact {Translator('en')._(OFFICE_NAMES[office])}."
    return f"Please contact {contact.name.en}: "


async def _identity(backend: Backend, chat: Chat) -> ChatIdentity:
    async with backend.services.sessions() as session:
        identity = await session.scalar(
            select(ChatIdentity).where(ChatIdentity.platform_user_id == chat.user)
        )
    assert identity is not None
    return identity


async def test_the_mailbox_status_shows_the_linked_persons_mailbox(backend: Backend) -> None:
    chat = await _linked(backend)
    assert "this chat is now linked" in chat.text()
    identity = await _identity(backend, chat)
    # On LDAP the chat keeps the entry, never a people row.
    assert (identity.person_id is None) == (backend.server is not None)
    await chat.press("My mailbox status")
    assert _mailbox(backend) in chat.text()
    assert "Working normally." in chat.text()
    assert f"Reset the password of {_mailbox(backend)}" in chat.labels()


@on_ldap
async def test_a_mailbox_reset_from_the_status_lands_in_the_directory(
    backend: Backend, client: httpx.AsyncClient
) -> None:
    assert backend.server is not None
    entry = backend.server.account(backend.account)
    chat = await _linked(backend)
    await chat.press("My mailbox status")
    assert "Password last changed" in chat.text()
    await chat.press(f"Reset the password of {entry.mail}")
    assert f"A link to set the password of {entry.mail} was sent to sp" in chat.text()
    # Seed 002: a mailbox's link goes to the notification address on file.
    (mail,) = await outbox(backend.services, to=entry.notification)
    done = await set_on_page(client, password_link_in(mail.body), NEW)
    assert done.status_code == 200 and "Password changed" in done.text
    assert await backend.logs_in(NEW)


@on_ldap
async def test_a_locked_entry_shows_as_locked_with_a_person_and_no_reset(
    backend: Backend,
) -> None:
    assert backend.server is not None
    entry = backend.server.account(backend.account)
    chat = await _linked(backend)
    # ppolicy's lock (an administrator's, or after too many wrong passwords).
    backend.server.as_root(
        entry.dn, {"pwdAccountLockedTime": [("MODIFY_REPLACE", ["000001010000Z"])]}
    )
    await chat.press("My mailbox status")
    assert f"{entry.mail}\nThis account is locked after too many wrong passwords" in chat.text()
    assert "Working normally." not in chat.text()
    assert f"Reset the password of {entry.mail}" not in chat.labels()
    assert "Talk to a person" in chat.labels()


@on_ldap
async def test_a_suspended_entry_shows_as_suspended_and_its_owner_may_still_reset(
    backend: Backend, settings: Settings
) -> None:
    """A directory whose suspension is shadowExpire (not ppolicy's lock): suspended,
    not locked, so the reset stays offered beside a person."""
    assert backend.server is not None
    services = backend.services
    await change_directory(services, settings, suspension="shadowExpire")
    entry = backend.server.account(backend.account)
    chat = await _linked(backend)
    backend.server.as_root(
        entry.dn,
        {
            "objectClass": [("MODIFY_ADD", ["shadowAccount"])],
            "shadowExpire": [("MODIFY_REPLACE", ["1"])],  # 1970-01-02: long past
        },
    )
    await chat.press("My mailbox status")
    assert f"{entry.mail}\nSuspended by the administrators." in chat.text()
    assert "Talk to a person" in chat.labels()
    await chat.press(f"Reset the password of {entry.mail}")
    assert f"A link to set the password of {entry.mail} was sent to" in chat.text()


@on_ldap
async def test_a_required_change_shows_beside_the_mailbox(backend: Backend) -> None:
    assert backend.server is not None
    entry = backend.server.account(backend.account)
    chat = await _linked(backend)
    backend.server.as_root(entry.dn, {"pwdReset": [("MODIFY_REPLACE", ["TRUE"])]})
    await chat.say("/menu")
    await chat.press("My mailbox status")
    assert entry.mail is not None and entry.mail in chat.text()
    assert f"The password of {backend.account} was set by the school" in chat.text()
    await chat.press(f"Change the password of {backend.account} now")
    assert f"A link to set the password of {backend.account} was sent to" in chat.text()


@on_ldap
async def test_a_directory_that_does_not_answer_gives_the_unavailable_reply(
    backend: Backend,
) -> None:
    assert backend.server is not None
    chat = await _linked(backend)
    backend.server.stop()
    for flow in ("My mailbox status", "Apply for a new mailbox"):
        await chat.say("/menu")
        await chat.press(flow)
        assert UNAVAILABLE in chat.text()
    # Talking to a person still works: the case names the chat user instead.
    await chat.say("/menu")
    await chat.press("Talk to a person")
    await chat.say("I cannot log in")
    assert "Your case number is #1" in chat.text()
    backend.server.start()
    await chat.say("/menu")
    await chat.press("My mailbox status")
    assert "Working normally." in chat.text()


@on_ldap
async def test_applying_for_a_mailbox_names_the_one_the_entry_has(backend: Backend) -> None:
    chat = await _linked(backend)
    await chat.say("/menu")
    await chat.press("Apply for a new mailbox")
    assert f"You already have the mailbox {_mailbox(backend)}." in chat.text()


@on_ldap
async def test_applying_for_a_mailbox_on_a_directory_sends_the_user_to_the_help_desk(
    backend: Backend, settings: Settings
) -> None:
    """Without [directory.new_mailbox] (who may apply, what a mailbox is) a mailbox in the
    institution's domain is created by the help desk in the directory, not in the chat;
    with it, see test_mailbox_application_directory.py."""
    assert backend.server is not None
    services = backend.services
    await change_directory(services, settings, new_mailbox=None)
    student = next(a for a in backend.server.accounts.values() if a.uid.isdigit())
    assert student.mail and student.mail.endswith("@grad.demo.edu.tw")
    chat = await _linked(backend, student.uid)
    await chat.say("/menu")
    await chat.press("Apply for a new mailbox")
    assert "Your account is in the university's directory, where the help desk creates" in (
        chat.text()
    )
    assert _contact(backend, "helpdesk") in chat.text()
    assert "Network Usage Policy" not in chat.text()  # nothing is applied for here


@on_ldap
async def test_the_alumni_card_on_a_directory_sends_the_user_to_the_alumni_centre(
    backend: Backend,
) -> None:
    chat = await _linked(backend)
    await chat.say("/menu")
    await chat.press("My alumni card")
    assert "the electronic alumni card is applied for at the alumni centre" in chat.text()
    assert _contact(backend, "alumni_centre") in chat.text()
    zh = await _linked(backend, "spare01", user="bob", locale="zh_TW")
    await zh.say("/menu")
    await zh.press(Translator("zh_TW")._("My alumni card"))
    assert "電子校友證請向校友中心申請，無法在此聊天中辦理。" in zh.text()


async def test_a_case_opened_from_a_linked_chat_names_the_account(backend: Backend) -> None:
    chat = await _linked(backend)
    await chat.say("/menu")
    await chat.press("Talk to a person")
    await chat.say("My VPN says error 809")
    async with backend.services.sessions() as session:
        (case,) = list(await session.scalars(select(Case)))
    assert f"Your case number is #{case.id}" in chat.text()
    assert case.account == backend.account
    # Staff read the account, not a chat pseudonym.
    assert f"From: {backend.account} on test" in cases.summary(case, backend.services.profile)
