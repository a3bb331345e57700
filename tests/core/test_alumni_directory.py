"""Approving an alumni application where the accounts live in LDAP: a real slapd.

The directory here loads OpenLDAP's argon2 module, as the README asks of a directory the
bot writes accounts into: the new entry's first password is the application's argon2
hash of the ID number, and the directory checks the first login against it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.services import Services
from core import alumni
from core.directory import DirectoryUnavailable
from core.i18n import Translator
from core.models import (
    Account,
    AlumniApplication,
    AuditEvent,
    ChatNotice,
    DirectoryIndexEntry,
    OutboundMail,
    Person,
)
from core.settings import Settings
from tests.core.directory.conftest import pointed_at, writing
from tests.directory_backends import (
    browser,
    forgot_in_chat,
    on_directory,
    set_on_page,
    sync_index,
)
from tests.factories import add_application, approve
from tests.ldap_server import (
    PEOPLE,
    SUFFIX,
    LdapAccount,
    SlapdServer,
    alumni_entry,
    build,
    ldap_profile,
    slapd_server,
)
from tests.outbox import outbox, password_link_in

__all__ = ["slapd_server"]

NEW_ID_NUMBER = "F131104093"  # nobody in the demo directory
NEW_PASSWORD = "Cobalt-Harbour-71!"
ALUMNI_POLICY = f"cn=alumni,ou=policies,{SUFFIX}"
# The entry an approved application writes: no ID number or birthday (an application
# keeps them only as hashes), under a policy that accepts a hashed first password.
NEW_ENTRY = alumni_entry(campusDegreeLevel="{degree_level}", pwdPolicySubentry=ALUMNI_POLICY)


def accepting_written_accounts(folder: Path) -> SlapdServer:
    """A fresh demo directory that knows {ARGON2} and has a policy for alumni entries."""
    server = build(folder, ldap_profile(), modules=("argon2",))
    server.start()
    server.add(
        ALUMNI_POLICY,
        {
            "objectClass": ["organizationalRole", "pwdPolicy"],
            "cn": "alumni",
            "pwdAttribute": "userPassword",
            "pwdMinLength": "8",
            "pwdInHistory": "3",
            "pwdMustChange": "TRUE",
            "pwdAllowUserChange": "TRUE",
            # 1: a hashed value is accepted unchecked (2 would refuse it).
            "pwdCheckQuality": "1",
        },
    )
    return server


@dataclass
class Campus:
    services: Services
    server: SlapdServer


@pytest.fixture
async def campus(
    request: pytest.FixtureRequest, services: Services, settings: Settings, tmp_path: Path
) -> AsyncIterator[Campus]:
    """The services over a slapd of their own whose index is synced, writing applications."""
    request.getfixturevalue("slapd_server")  # skips where slapd is not installed
    server = await asyncio.to_thread(accepting_written_accounts, tmp_path / "slapd")
    on_directory(services, settings, writing(pointed_at(ldap_profile(), server.uri), NEW_ENTRY))
    try:
        await sync_index(services)
        yield Campus(services, server)
    finally:
        await services.directories.close()
        await asyncio.to_thread(server.stop)


async def _apply(services: Services, **changes: object) -> int:
    """An application as the chat stores it: the first password only as its argon2 hash."""
    id_number = str(changes.get("id_number", NEW_ID_NUMBER))
    hashed = await services.passwords.hash(id_number.upper())
    return await add_application(services, default_password_hash=hashed, **changes)


def _as_in_directory(account: LdapAccount, **changes: object) -> dict[str, object]:
    """An application's facts as the directory entry ``account`` has them, ``changes``
    aside."""
    return {
        "id_number": account.id_number,
        "birthday": account.birthday,
        "name_zh": account.name_zh,
        "name_en": account.name_en,
        "student_id": account.student_id,
        "degree_level": account.degree_level,
        **changes,
    }


async def _status(services: Services, number: int) -> str:
    async with services.sessions() as session:
        application = await session.get(AlumniApplication, number)
    assert application is not None
    return application.status


async def test_an_approved_application_is_a_new_entry_whose_first_password_is_the_id_number(
    campus: Campus,
) -> None:
    services, server = campus.services, campus.server
    number = await _apply(services)
    approval = await approve(services, number)
    dn = f"uid=B20920301100,{PEOPLE}"
    assert (approval.account, approval.entry) == ("B20920301100", dn)
    # The ID number with its letters in upper case logs in, and must be changed.
    assert await asyncio.to_thread(server.binds, dn, NEW_ID_NUMBER)
    assert not await asyncio.to_thread(server.binds, dn, "F131104094")
    entry = await asyncio.to_thread(server.entry, dn)
    assert entry["pwdReset"] == ["TRUE"]
    assert entry["campusNotificationAddress"] == ["applicant@example.com"]
    assert entry["employeeNumber"] == ["209203011"] and entry["sn"] == ["Lin"]
    assert "campusIdNumber" not in entry and "campusBirthday" not in entry
    assert await _status(services, number) == "approved"
    # Told as on the bot's own tables: in the chat and by mail, the first password named.
    told = Translator("en")._(alumni.APPROVED, number=number, account="B20920301100")
    async with services.sessions() as session:
        notice = await session.scalar(select(ChatNotice))
        mail = await session.scalar(select(OutboundMail))
        # The directory is the record: nothing goes into the bot's people and accounts.
        assert await session.scalar(select(func.count()).select_from(Person)) == 0
        assert await session.scalar(select(func.count()).select_from(Account)) == 0
    assert notice is not None and (notice.chat_id, notice.text) == ("applicant", told)
    assert mail is not None and (mail.to_address, mail.body) == ("applicant@example.com", told)


async def test_an_application_matching_its_directory_entry_is_clear_and_named(
    campus: Campus,
) -> None:
    services, server = campus.services, campus.server
    chen = server.account("111201002")  # 陳怡君, bachelor, no alumni account yet
    number = await _apply(services, **_as_in_directory(chen, name_en="CHEN, YI-JUN"))
    [(_, checked)] = await alumni.pending_reviews(
        services.sessions, services.profile, services.directories.remote
    )
    assert checked.clear and checked.entry == chen.dn, checked
    approval = await approve(services, number)
    assert approval.entry == f"uid=B11120100200,{PEOPLE}"
    # Her own entry is not touched: a new entry is written beside it.
    assert (await asyncio.to_thread(server.entry, chen.dn))["campusNotificationAddress"] == [
        "yijun.chen@example.net"
    ]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"birthday": dt.date(2004, 7, 23)}, "the birthday differs"),
        ({"name_zh": "莊小惡"}, "the Chinese name differs"),
        ({"name_en": "Chuang Hsiao-O"}, "the English name differs"),
        ({"student_id": "111201099"}, "is not among the records"),
    ],
)
async def test_someone_elses_id_number_is_flagged_and_needs_an_audited_override(
    campus: Campus, changes: dict[str, object], reason: str
) -> None:
    services, server = campus.services, campus.server
    chen = server.account("111201002")
    facts = _as_in_directory(chen, email="attacker@example.com")
    number = await _apply(services, **(facts | changes))
    [(_, checked)] = await alumni.pending_reviews(
        services.sessions, services.profile, services.directories.remote
    )
    assert [c for c in checked.conflicts if reason in c], checked
    with pytest.raises(alumni.DecisionRefused, match=reason):
        await approve(services, number)
    assert await _status(services, number) == "pending"
    account = services.profile.accounts.alumni_account_for(str((facts | changes)["student_id"]))
    assert account is not None
    assert not await asyncio.to_thread(server.entry, f"uid={account},{PEOPLE}")

    await approve(services, number, override="registrar confirmed by phone")
    # The person's own entry keeps her contact data; the override is in the audit log.
    mine = await asyncio.to_thread(server.entry, chen.dn)
    assert mine["campusNotificationAddress"] == ["yijun.chen@example.net"]
    async with services.sessions() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "approve"))
    assert event is not None and event.outcome == "override"


async def test_an_account_already_in_the_directory_blocks_approval(campus: Campus) -> None:
    services, server = campus.services, campus.server
    wang = server.account("B10920500300")  # 王大同 has his alumni account already
    number = await _apply(services, **_as_in_directory(wang))
    with pytest.raises(alumni.DecisionRefused, match="B10920500300 already exists"):
        await approve(services, number)
    assert await _status(services, number) == "pending"


async def test_an_entry_of_that_name_outside_the_people_is_a_clear_refusal(
    campus: Campus,
) -> None:
    """AccountExists from the directory itself (a DN the lookup of people cannot see)."""
    services, server = campus.services, campus.server
    server.add(f"uid=B20920301100,{PEOPLE}", {"objectClass": ["account"]})
    number = await _apply(services)
    with pytest.raises(alumni.DecisionRefused, match="already has an entry for the account"):
        await approve(services, number)
    assert await _status(services, number) == "pending"
    async with services.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ChatNotice)) == 0


async def test_queue_mode_writes_no_entry_and_gives_staff_the_facts(campus: Campus) -> None:
    services, server = campus.services, campus.server
    services.profile = writing(services.profile, NEW_ENTRY, "queue")
    number = await _apply(services)
    approval = await approve(services, number)
    assert approval.entry is None
    facts = dict(approval.by_hand)
    assert facts["account"] == "B20920301100"
    assert facts["DN"] == f"uid=B20920301100,{PEOPLE}"
    assert facts["notification address"] == "applicant@example.com"
    assert "F1******93" in facts["first password"] and NEW_ID_NUMBER not in str(facts)
    assert not await asyncio.to_thread(server.entry, f"uid=B20920301100,{PEOPLE}")
    assert await _status(services, number) == "approved"
    told = Translator("en")._(alumni.APPROVED_QUEUED, number=number, account="B20920301100")
    async with services.sessions() as session:
        notice = await session.scalar(select(ChatNotice))
        mail = await session.scalar(select(OutboundMail))
    assert notice is not None and notice.text == told
    assert mail is not None and mail.body == told and "ID number" not in told


async def test_a_directory_that_does_not_answer_leaves_the_application_pending(
    campus: Campus,
) -> None:
    services, server = campus.services, campus.server
    number = await _apply(services)
    await asyncio.to_thread(server.stop)
    with pytest.raises(DirectoryUnavailable):
        await approve(services, number)
    assert await _status(services, number) == "pending"
    async with services.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ChatNotice)) == 0
        assert await session.scalar(select(func.count()).select_from(OutboundMail)) == 0
    # Back again, the same approval goes through.
    await asyncio.to_thread(server.start)
    assert (await approve(services, number)).entry is not None


async def _index_row(services: Services, dn: str) -> DirectoryIndexEntry | None:
    async with services.sessions() as session:
        return await session.get(DirectoryIndexEntry, dn)


async def test_an_approved_alumnus_resets_a_forgotten_password_by_the_id_number(
    campus: Campus,
) -> None:
    """The written entry holds no ID number: approval indexes it by the application's
    hashes, so the owner's ID number proves it in the chat and a stranger's does not."""
    services, server = campus.services, campus.server
    number = await _apply(services)
    approval = await approve(services, number)
    dn = f"uid=B20920301100,{PEOPLE}"
    assert approval.entry == dn
    told = len(await outbox(services))  # the approval's own mail

    stranger = await forgot_in_chat(services, "B20920301100", "A123456789", user="stranger")
    assert len(await outbox(services)) == told  # nothing mailed for a wrong ID number
    owner = await forgot_in_chat(services, "B20920301100", NEW_ID_NUMBER, user="applicant")
    assert owner.encode() == stranger.encode()  # the reply never tells which was right
    mails = (await outbox(services))[told:]
    assert [mail.to_address for mail in mails] == ["applicant@example.com"]

    # The link sets the password in the directory: the new one logs in, the first not.
    async with browser(services) as client:
        done = await set_on_page(client, password_link_in(mails[0].body), NEW_PASSWORD)
    assert done.status_code == 200 and "Password changed" in done.text, done.text
    assert await asyncio.to_thread(server.binds, dn, NEW_PASSWORD)
    assert not await asyncio.to_thread(server.binds, dn, NEW_ID_NUMBER)


async def test_the_sync_keeps_an_approved_entrys_row_until_the_entry_is_deleted(
    campus: Campus,
) -> None:
    services, server = campus.services, campus.server
    approval = await approve(services, await _apply(services))
    assert approval.entry is not None
    for full in (False, True):  # the new entry is read again, and has no ID number
        await sync_index(services, full=full)
        row = await _index_row(services, approval.entry)
        assert row is not None and row.id_number_hash == services.pii.id_number(NEW_ID_NUMBER)
    # Its owner still proves the account after the syncs.
    await forgot_in_chat(services, "B20920301100", NEW_ID_NUMBER, user="applicant")
    assert (await outbox(services))[-1].to_address == "applicant@example.com"
    assert "/password/" in (await outbox(services))[-1].body

    await asyncio.to_thread(server.delete, approval.entry)
    report = await sync_index(services)
    assert report.removed == 1
    assert await _index_row(services, approval.entry) is None


async def test_an_approved_entry_never_answers_a_student_id_lookup_twice(campus: Campus) -> None:
    """The approval's row proves ownership only: the lookup answers from her own entry."""
    services, server = campus.services, campus.server
    chen = server.account("111201002")
    await approve(
        services, await _apply(services, **_as_in_directory(chen, name_en="CHEN, YI-JUN"))
    )
    remote = services.directories.remote
    assert remote is not None
    found = await remote.find_student_ids(
        id_number_hash=services.pii.id_number(chen.id_number),
        birthday_hash=services.pii.birthday(chen.birthday),
        degree_level="bachelor",
    )
    assert found == ["111201002"]
