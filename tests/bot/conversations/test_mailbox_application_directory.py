"""Applying for a mailbox (seed 004) on a chat linked to an entry of a real slapd, as the
profile's ``[directory.new_mailbox]`` and ``[directory] applications`` say.

``"write"``: the mailbox's entry is written and the link mailed to the notification
address sets its password in slapd. ``"queue"``: nothing is written; the help desk gets
a case with the application's facts. A directory that does not answer: the one
"temporarily unavailable" reply, nothing written or queued.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.engine import Engine
from bot.staffdesk import CaseDesk
from core import cases
from core.directory.ldap import ldap3
from core.i18n import Translator
from core.models import Case
from core.settings import Settings
from tests.bot.conversations.conftest import (
    LIN_MAILBOX_NAMES,
    assert_mailbox_in_place,
    link,
    read_to_the_end,
)
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
from tests.ldap_server import PEOPLE, ROOT_DN, ROOT_PASSWORD, SUFFIX, SlapdServer
from tests.outbox import code_in, outbox, password_link_in

__all__ = ["backend", "client", "slapd_server"]

pytestmark = pytest.mark.parametrize("backend", ["ldap"], indirect=True)

MAIL_OU = f"ou=mail,{SUFFIX}"
LIN = "211303001"  # Lin Ming-Zhi, enrolled (在學), notification mingzhi.lin@example.com
UNAVAILABLE = "The service is temporarily unavailable. Nothing was changed"


async def _configure(backend: Backend, settings: Settings, **directory: Any) -> None:
    """The backend's profile with ``[directory]`` changed, and a directory that uses it."""
    await change_directory(backend.services, settings, **directory)


def _root(server: SlapdServer) -> ldap3.Connection:
    connection = ldap3.Connection(
        ldap3.Server(server.uri, get_info=ldap3.NONE), user=ROOT_DN, password=ROOT_PASSWORD
    )
    assert connection.bind()
    return connection


def _under(server: SlapdServer, base: str, wanted: str) -> dict[str, dict[str, list[str]]]:
    """The entries under ``base`` matching ``wanted``, as the rootdn reads them."""
    connection = _root(server)
    try:
        connection.search(base, wanted, attributes=["*"])
        return {
            entry["dn"]: {
                name: [str(v) for v in (values if isinstance(values, list) else [values])]
                for name, values in entry["attributes"].items()
            }
            for entry in connection.response or []
            if entry.get("type") == "searchResEntry"
        }
    finally:
        connection.unbind()


def _mailbox_entries(server: SlapdServer) -> dict[str, dict[str, list[str]]]:
    return _under(server, MAIL_OU, "(uid=*)")


async def _linked(backend: Backend, account: str = LIN, *, locale: str = "en") -> Chat:
    chat = Chat(Engine(backend.services), user=f"applicant-{account}", locale=locale)
    await link(chat, backend.services, account)
    return chat


async def _to_the_names(chat: Chat, apply: str = "Apply for a new mailbox") -> None:
    await chat.say("/menu")
    await chat.press(apply)
    accept = "我接受，繼續" if chat.locale == "zh_TW" else "I accept; continue"
    await read_to_the_end(chat, accept)
    await read_to_the_end(chat, accept)


async def _write(backend: Backend, settings: Settings) -> SlapdServer:
    await _configure(backend, settings, applications="write")
    assert backend.server is not None
    return backend.server


async def test_written_the_mailbox_is_an_entry_whose_mailed_link_sets_its_password(
    backend: Backend, settings: Settings, client: httpx.AsyncClient
) -> None:
    server = await _write(backend, settings)
    lin = server.account(LIN)
    chat = await _linked(backend)
    await _to_the_names(chat)
    assert chat.labels()[:4] == LIN_MAILBOX_NAMES
    await chat.press("mzlin@demo.edu.tw")
    assert "Created mzlin@demo.edu.tw." in chat.text()
    assert "takes effect within 10 minutes" in chat.text()
    assert "A link to set its password was sent to mi*******in@example.com" in chat.text()

    dn = f"uid=mzlin,{MAIL_OU}"
    (written,) = _mailbox_entries(server).items()
    assert written[0] == dn
    entry = written[1]
    assert entry["mail"] == ["mzlin@demo.edu.tw"]
    assert entry["seeAlso"] == [lin.dn]  # its owner
    assert entry["employeeNumber"] == [LIN]
    assert entry["campusNotificationAddress"] == [lin.notification]
    assert "userPassword" not in entry  # nobody logs in before the owner sets one
    # Never the ID number or birthday.
    assert not {"campusIdNumber", "campusBirthday"} & set(entry)

    # Seed 004: the password is set through the link, mailed to the notification address.
    (mail,) = [m for m in await outbox(backend.services, to=lin.notification)]
    assert "mzlin@demo.edu.tw" in mail.subject
    done = await set_on_page(client, password_link_in(mail.body), NEW)
    assert done.status_code == 200 and "Password changed" in done.text
    assert await asyncio.to_thread(server.binds, dn, NEW)

    # The chat sees the new mailbox, and a second application is refused.
    await assert_mailbox_in_place(chat, "mzlin@demo.edu.tw")


async def test_another_notification_address_is_written_to_the_mailbox_entry(
    backend: Backend, settings: Settings
) -> None:
    server = await _write(backend, settings)
    chat = await _linked(backend)
    await _to_the_names(chat)
    await chat.press("linmz@demo.edu.tw")
    await chat.press("Another address")
    await chat.say("ming.lin@example.net")
    await chat.say(code_in((await outbox(backend.services, to="ming.lin@example.net"))[-1].body))
    assert "Notifications for linmz@demo.edu.tw go to mi****in@example.net." in chat.text()
    (entry,) = _mailbox_entries(server).values()
    assert entry["campusNotificationAddress"] == ["ming.lin@example.net"]


async def test_names_taken_in_the_directory_are_never_offered(
    backend: Backend, settings: Settings
) -> None:
    server = await _write(backend, settings)
    # An account called mzlin among the people, an address ming-zhi.lin@ on a mailbox entry.
    server.add(
        f"uid=mzlin,{PEOPLE}",
        {"objectClass": ["inetOrgPerson"], "uid": "mzlin", "cn": "M Z Lin", "sn": "Lin"},
    )
    server.add(
        f"uid=mingzhi-old,{MAIL_OU}",
        {
            "objectClass": ["inetOrgPerson"],
            "uid": "mingzhi-old",
            "cn": "Old",
            "sn": "Old",
            "mail": "ming-zhi.lin@demo.edu.tw",
        },
    )
    chat = await _linked(backend)
    await _to_the_names(chat)
    offered = chat.labels()
    assert "mzlin@demo.edu.tw" not in offered
    assert "ming-zhi.lin@demo.edu.tw" not in offered
    assert offered[:2] == ["mingzhi.lin@demo.edu.tw", "linmz@demo.edu.tw"]


async def test_a_name_taken_meanwhile_is_refused_and_nothing_is_written(
    backend: Backend, settings: Settings
) -> None:
    server = await _write(backend, settings)
    chat = await _linked(backend)
    await _to_the_names(chat)
    server.add(
        f"uid=mzlin,{MAIL_OU}",
        {"objectClass": ["inetOrgPerson"], "uid": "mzlin", "cn": "Other", "sn": "Other"},
    )
    await chat.press("mzlin@demo.edu.tw")
    assert "Please choose one of the names listed." in chat.text()
    assert "mzlin@demo.edu.tw" not in chat.labels()
    assert list(_mailbox_entries(server)) == [f"uid=mzlin,{MAIL_OU}"]  # only the other one
    assert not [m for m in await outbox(backend.services) if "/password/" in m.body]


async def test_only_an_entry_the_template_names_may_apply(
    backend: Backend, settings: Settings
) -> None:
    """The example's applicants: staff, and students enrolled (在學) or returning (復學)."""
    server = await _write(backend, settings)
    suspended = next(a for a in server.accounts.values() if a.status == "休學")
    chat = await _linked(backend, suspended.uid)
    await chat.say("/menu")
    await chat.press("Apply for a new mailbox")
    assert "Your record does not allow one." in chat.text()
    assert "Network Usage Policy" not in chat.text()


async def test_added_to_the_owners_entry_the_mailbox_shares_its_password(
    backend: Backend, settings: Settings
) -> None:
    """``add_to = "owner"``: the address joins the applicant's own entry; no link."""
    server = await _write(backend, settings)
    template = backend.services.profile.directory.new_mailbox
    assert template is not None
    owner_mode = template.model_copy(
        update={"add_to": "owner", "dn": None, "attributes": {"mail": "{address}"}}
    )
    await _configure(backend, settings, new_mailbox=owner_mode)
    lin = server.account(LIN)
    chat = await _linked(backend)
    await _to_the_names(chat)
    await chat.press("mzlin@demo.edu.tw")
    assert "Created mzlin@demo.edu.tw." in chat.text()
    assert "mzlin@demo.edu.tw uses the password of your account." in chat.text()
    (owner,) = _under(server, PEOPLE, f"(uid={LIN})").values()
    assert sorted(owner["mail"]) == sorted([lin.mail, "mzlin@demo.edu.tw"])
    assert not _mailbox_entries(server)
    assert not [m for m in await outbox(backend.services) if "/password/" in m.body]
    await chat.say("/menu")
    await chat.press("Apply for a new mailbox")
    assert "You already have the mailbox mzlin@demo.edu.tw." in chat.text()


class RecordingDesk:
    """A staff desk that keeps what it is asked to post (a staff channel's side)."""

    desk = "staff-test"

    def __init__(self) -> None:
        self.posted: list[str] = []

    async def post_case(self, case_id: int, text: str, status: str) -> dict[str, Any]:
        self.posted.append(text)
        return {"root": case_id}

    async def update_case(
        self, where: dict[str, Any], case_id: int, text: str, status: str
    ) -> None:
        return None

    async def post_in_thread(self, where: dict[str, Any], text: str) -> dict[str, Any]:
        self.posted.append(text)
        return {}


async def test_queued_nothing_is_written_and_staff_see_the_application(
    backend: Backend,
) -> None:
    """The example profile queues: a help-desk case carries the application's facts."""
    assert backend.services.profile.directory.applications == "queue"
    assert backend.server is not None
    lin = backend.server.account(LIN)
    chat = await _linked(backend)
    await _to_the_names(chat)
    await chat.press("mzlin@demo.edu.tw")
    assert (
        "Your application for mzlin@demo.edu.tw was passed to the help desk (case #1): the "
        "staff create the mailbox in the university's directory and answer in this chat."
    ) in chat.text()
    assert not _mailbox_entries(backend.server)
    assert not [m for m in await outbox(backend.services) if "/password/" in m.body]

    async with backend.services.sessions() as session:
        (case,) = list(await session.scalars(select(Case)))
    assert case.account == LIN
    desk = RecordingDesk()
    await CaseDesk(backend.services, desk).run_once()
    (posted,) = desk.posted
    assert posted == cases.summary(case, backend.services.profile)
    assert "please create mzlin@demo.edu.tw in the directory" in posted
    assert f"Owner: {lin.dn} (account {LIN}, student ID or employee number {LIN})" in posted
    assert "Name: 林明志 / Lin Ming-Zhi" in posted
    assert f"Notification address on file: {lin.notification}" in posted
    assert f"New entry: uid=mzlin,{MAIL_OU}" in posted
    assert lin.id_number not in posted
    # The help desk's address gets it too.
    (mailed,) = await outbox(backend.services, to="servicedesk@demo.edu.tw")
    assert "mzlin@demo.edu.tw" in mailed.body


async def test_queued_in_chinese(backend: Backend) -> None:
    chat = await _linked(backend, locale="zh_TW")
    await _to_the_names(chat, Translator("zh_TW")._("Apply for a new mailbox"))
    await chat.press("mzlin@demo.edu.tw")
    assert "已轉交服務台（案件 #1）" in chat.text()


@pytest.mark.parametrize("applications", ["write", "queue"])
async def test_a_directory_that_does_not_answer_writes_and_queues_nothing(
    backend: Backend, settings: Settings, applications: str
) -> None:
    await _configure(backend, settings, applications=applications)
    server = backend.server
    assert server is not None
    chat = await _linked(backend)
    await _to_the_names(chat)
    server.stop()
    await chat.press("mzlin@demo.edu.tw")
    assert UNAVAILABLE in chat.text()
    server.start()
    assert not _mailbox_entries(server)
    assert not [m for m in await outbox(backend.services) if "/password/" in m.body]
    async with backend.services.sessions() as session:
        assert not list(await session.scalars(select(Case)))
