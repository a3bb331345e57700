"""Applying for a new campus mailbox (seed 004, NTHU 申請電子郵件帳號): who may, and creating it.

Only a person whose status allows it may apply (staff where the profile lets them;
students in the profile's statuses), one mailbox in the institution's domain each, and
only with a notification address on file, where the new mailbox's password link goes.

On an LDAP or AD directory the profile's ``[directory.new_mailbox]`` says who may apply
(an LDAP filter the applicant's entry must match) and what a mailbox is; the names
offered are free in the directory. ``[directory] applications`` chooses, as for alumni
accounts: ``"write"`` writes the mailbox (an entry of its own, or the address added to
the owner's entry), ``"queue"`` passes the application to the help desk as a case with
its facts, for staff to create by hand. A directory that does not answer raises
``DirectoryUnavailable`` before anything is written or queued.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import cases
from core.directory import AccountExists, DirectoryAccount
from core.directory.ldap import LdapDirectory, MailboxApplicant
from core.mailbox_names import free_names
from core.models import CaseMessage, Mailbox, MailboxCondition, Person, Role, StudentRecord
from core.profiles import NewMailbox as MailboxTemplate
from core.profiles import Profile


class Refusal(StrEnum):
    HAS_MAILBOX = "has_mailbox"
    NOT_ALLOWED = "not_allowed"  # neither staff who may apply nor a student who may
    NO_ADDRESS = "no_address"  # nowhere to send the new mailbox's password link


@dataclass(frozen=True, slots=True)
class Ineligible:
    """Why a person may not apply; ``address`` is the mailbox they already have."""

    reason: Refusal
    address: str | None = None


@dataclass(frozen=True, slots=True)
class NewMailbox:
    """A mailbox just created, pending until it takes effect."""

    id: int
    person_id: int
    address: str
    quota_limit_kb: int
    notification_address: str | None


async def refusal(session: AsyncSession, profile: Profile, person_id: int) -> Ineligible | None:
    """Why the person may not apply for a mailbox, or None when they may."""
    domain = profile.accounts.mail_domain
    existing = await session.scalar(
        select(Mailbox.address).where(
            Mailbox.person_id == person_id,
            func.lower(Mailbox.address).like(f"%@{domain.lower()}"),
        )
    )
    if existing is not None:
        return Ineligible(Refusal.HAS_MAILBOX, existing)
    person = await session.get(Person, person_id)
    assert person is not None
    statuses = set(
        await session.scalars(
            select(StudentRecord.status).where(StudentRecord.person_id == person_id)
        )
    )
    staff = person.role == Role.STAFF and profile.mail.staff_may_apply
    if not staff and not statuses & set(profile.mail.application_statuses):
        return Ineligible(Refusal.NOT_ALLOWED)
    if not person.notification_email:
        return Ineligible(Refusal.NO_ADDRESS)
    return None


async def names(session: AsyncSession, profile: Profile, person_id: int) -> list[str]:
    """The names the person may choose, from their passport English name, none taken."""
    person = await session.get(Person, person_id)
    assert person is not None
    domain = profile.accounts.mail_domain.lower()
    taken = {
        address.split("@")[0]
        for address in await session.scalars(
            select(func.lower(Mailbox.address)).where(
                func.lower(Mailbox.address).like(f"%@{domain}")
            )
        )
    }
    return free_names(person.name_en, taken)


async def create(
    session: AsyncSession, profile: Profile, person_id: int, name: str, *, now: dt.datetime
) -> NewMailbox | None:
    """Create the mailbox ``name``, or None when it is not (or no longer) free to choose.

    Its notifications go to the person's address on file until another is designated.
    """
    if name not in await names(session, profile, person_id):
        return None
    person = await session.get(Person, person_id)
    assert person is not None
    mailbox = Mailbox(
        person_id=person.id,
        address=f"{name}@{profile.accounts.mail_domain}",
        condition=MailboxCondition.PENDING,
        quota_used_kb=0,
        quota_limit_kb=profile.mail.default_quota_kb,
        notification_address=person.notification_email,
        created_at=now,
    )
    session.add(mailbox)
    await session.flush()
    return NewMailbox(
        id=mailbox.id,
        person_id=person.id,
        address=mailbox.address,
        quota_limit_kb=mailbox.quota_limit_kb,
        notification_address=mailbox.notification_address,
    )


async def designate(session: AsyncSession, mailbox_id: int, address: str) -> None:
    """Send the mailbox's notifications to ``address`` (already proven by a mailed code)."""
    mailbox = await session.get(Mailbox, mailbox_id)
    assert mailbox is not None
    mailbox.notification_address = address


# --- on an LDAP or AD directory ([directory.new_mailbox]) ---------------------------------


@dataclass(frozen=True, slots=True)
class Queued:
    """An application passed to the help desk: its case, or None past the day's cases."""

    case: int | None


def template(profile: Profile) -> MailboxTemplate | None:
    """The profile's ``[directory.new_mailbox]``; None on SQL or where it is not set."""
    return profile.directory.new_mailbox if profile.directory.backend != "sql" else None


def _mails_a_link(profile: Profile) -> bool:
    """Whether the new mailbox's password link is mailed (a written entry of its own)."""
    mailbox = template(profile)
    return (
        mailbox is not None
        and profile.directory.applications == "write"
        and mailbox.add_to == "new_entry"
    )


async def refusal_in_directory(
    directory: LdapDirectory, profile: Profile, owner: str
) -> Ineligible | None:
    """``refusal`` for the directory entry ``owner``, by the template's ``applicants``."""
    domain = "@" + profile.accounts.mail_domain.lower()
    boxes = await directory.mailboxes_of(owner)
    mine = next((box.name for box in boxes if box.name.lower().endswith(domain)), None)
    if mine is not None:
        return Ineligible(Refusal.HAS_MAILBOX, mine)
    applicant = await directory.mailbox_applicant(owner)
    if applicant is None or not applicant.may_apply:
        return Ineligible(Refusal.NOT_ALLOWED)
    if _mails_a_link(profile) and not applicant.notification_address:
        return Ineligible(Refusal.NO_ADDRESS)
    return None


async def names_in_directory(directory: LdapDirectory, profile: Profile, owner: str) -> list[str]:
    """The names ``owner`` may choose: from the English name on record, free in the
    directory (no account of that name, no entry with that address)."""
    applicant = await directory.mailbox_applicant(owner)
    if applicant is None or not applicant.name_en:
        return []
    return await _free_in_directory(directory, profile, applicant.name_en)


async def _free_in_directory(directory: LdapDirectory, profile: Profile, name_en: str) -> list[str]:
    domain = profile.accounts.mail_domain
    taken: set[str] = set()
    offered = free_names(name_en, taken)
    for _ in range(3):  # numbered names follow when the plain ones are taken
        newly = await directory.taken_mailbox_names(offered, domain)
        if not newly:
            return offered
        taken |= newly
        offered = free_names(name_en, taken)
    newly = await directory.taken_mailbox_names(offered, domain)
    return [name for name in offered if name not in newly]


def mailbox_facts(profile: Profile, applicant: MailboxApplicant, name: str) -> dict[str, str]:
    """What a ``[directory.new_mailbox]`` template is filled with (``MAILBOX_FACTS``)."""
    name_en = " ".join((applicant.name_en or "").split())
    # Passport order, surname first ("LIN, MING-ZHI" or "Lin Ming-Zhi").
    surname, _, given = name_en.partition("," if "," in name_en else " ")
    return {
        "mailbox": name,
        "address": f"{name}@{profile.accounts.mail_domain}",
        "owner": applicant.dn,
        "account": applicant.account or "",
        "student_id": applicant.student_id or "",
        "name_zh": applicant.name_zh or name_en,
        "name_en": name_en,
        "surname": surname.strip() or name_en or name,
        "given_name": given.strip(),
        "notification_address": applicant.notification_address or "",
        "quota_kb": str(profile.mail.default_quota_kb),
    }


async def _chosen(
    directory: LdapDirectory, profile: Profile, owner: str, name: str
) -> MailboxApplicant | None:
    """The applicant, when ``name`` is (still) among the names offered to them."""
    applicant = await directory.mailbox_applicant(owner)
    if applicant is None or not applicant.may_apply or not applicant.name_en:
        return None
    if name not in await _free_in_directory(directory, profile, applicant.name_en):
        return None
    return applicant


async def create_in_directory(
    directory: LdapDirectory, profile: Profile, owner: str, name: str
) -> DirectoryAccount | None:
    """Write the mailbox ``name`` for ``owner`` (``applications = "write"``); None when
    the name is not, or no longer, free to choose."""
    applicant = await _chosen(directory, profile, owner, name)
    if applicant is None:
        return None
    try:
        return await directory.create_mailbox(mailbox_facts(profile, applicant, name))
    except AccountExists:  # taken between the check and the write
        return None


def by_hand(profile: Profile, facts: dict[str, str]) -> str:
    """The application as staff read it in the case (English, as the staff desk is)."""
    mailbox = template(profile)
    lines = [
        f"Mailbox application: please create {facts['address']} in the directory.",
        f"Owner: {facts['owner']} (account {facts['account'] or '-'}, "
        f"student ID or employee number {facts['student_id'] or '-'})",
        f"Name: {facts['name_zh']} / {facts['name_en']}",
        f"Notification address on file: {facts['notification_address'] or 'none'}",
        "The applicant accepted the network usage policy and the terms of use in the chat.",
    ]
    if mailbox is not None and mailbox.add_to == "new_entry" and mailbox.dn:
        escaped = {key: value.replace(",", "\\,") for key, value in facts.items()}
        lines.append(f"New entry: {mailbox.dn.format_map(escaped)}")
    elif mailbox is not None:
        added = ", ".join(
            f"{attribute}: {pattern.format_map(facts)}"
            for attribute, pattern in mailbox.attributes.items()
        )
        lines.append(f"Add to the owner's entry: {added}")
    return "\n".join(lines)


async def queue_in_directory(
    session: AsyncSession,
    directory: LdapDirectory,
    profile: Profile,
    owner: str,
    name: str,
    *,
    channel: str,
    chat_id: str,
    actor: str,
    locale: str,
    now: dt.datetime,
) -> Queued | None:
    """Pass the application for ``name`` to the help desk (``applications = "queue"``).

    The chat's open case gets it as a message; otherwise a case is opened with it, which
    the staff desks post and the help desk's address is mailed (the day's limit on a
    chat's cases holds: ``Queued(None)``). None when the name is
    not, or no longer, free to choose.
    """
    applicant = await _chosen(directory, profile, owner, name)
    if applicant is None:
        return None
    text = by_hand(profile, mailbox_facts(profile, applicant, name))
    case = await cases.open_case_of(session, channel, chat_id)
    if case is not None:
        # Kept as written (the directory's facts), and never held back by the chat's
        # per-minute limit on messages to a case: the application must reach staff.
        session.add(
            CaseMessage(case_id=case.id, source="user", author="user", text=text, created_at=now)
        )
        case.last_activity_at = now
        return Queued(case.id)
    limit = profile.handoff.cases_per_chat_per_day
    if await cases.opened_since(session, actor, now - dt.timedelta(days=1)) >= limit:
        return Queued(None)
    case = await cases.open_case(
        session,
        profile=profile,
        channel=channel,
        chat_id=chat_id,
        actor=actor,
        person_id=None,
        account=applicant.account,
        locale=locale,
        question=text,
        steps=await cases.recent_steps(session, actor, now),
        now=now,
        verbatim=True,  # the directory's facts: a DN must reach staff as it is
    )
    return Queued(case.id)
