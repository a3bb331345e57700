"""Staff decisions on alumni account applications (seed 003): approve or reject.

Approving creates the account B + student ID + 00 (the profile's format) whose first
password is the ID number with its letters in upper case, to be changed at the first
login (seed 003); the applicant is told in the chat they applied from and by mail, in
the language they applied in, as they are when an application is rejected.

An application is typed by anyone, so it never takes over a directory record: when
its ID number is already in the directory, every difference from that record
(birthday, name, student ID) is a conflict that ``review`` reports before anyone
decides, and approving needs an explicit override, audited with its reason. Approving
never changes an existing person's contact data.

Where the profile's directory is LDAP or AD, the directory is the record: an
application is compared with the entries of the local index (``core.directory.sync``)
that have its ID number, and approving either writes the profile's
``[directory.new_entry]`` (``applications = "write"``) or leaves the account to staff,
who create it by hand (``"queue"``). Nothing is written to the bot's people and
account tables then. The written entry's first password is the application's argon2
hash of the ID number as ``{ARGON2}``: the bot never keeps the number in clear, and
the directory (OpenLDAP's argon2 module) checks the first login against the hash.
The directory is asked outside any database transaction; the decision is then
recorded only if the application is still pending, so a directory that does not
answer leaves it pending with nothing written. A written entry holds no ID number, so
the decision's transaction also indexes it by the application's hashes
(``core.directory.sync.index_approved``): its owner can then reset a forgotten password
by proving the ID number, as on any other entry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import audit
from core.directory import (
    AccountExists,
    DirectoryUnavailable,
    PasswordRefused,
    TargetKind,
)
from core.directory.ldap import LdapDirectory
from core.directory.sync import index_approved
from core.directory_import import AccountKind
from core.errors import ConfigurationError, HelpdeskError
from core.i18n import N_, Translator
from core.mail import enqueue
from core.models import (
    Account,
    AlumniApplication,
    ApplicationStatus,
    ChatNotice,
    DirectoryIndexEntry,
    Person,
    RecordStatus,
    Role,
    StudentRecord,
)
from core.profiles import Profile
from core.text import fold

MAX_REASON = 500  # AlumniApplication.reason
MAIL_SUBJECT = N_("{institution}: your application for an alumni account")
APPROVED = N_(
    "Your application for an alumni account (number {number}) was approved. Your account "
    "is {account}. At the first login the password is your ID number (national ID or "
    "resident certificate number) with its letters in upper case, and you must change it "
    "at that login."
)
REJECTED = N_(
    "Your application for an alumni account (number {number}) was not approved. Reason: {reason}"
)
APPROVED_QUEUED = N_(
    "Your application for an alumni account (number {number}) was approved. Your account "
    "will be {account}: the staff create it in the university's directory and will tell you "
    "how to log in for the first time."
)
# What a [directory.new_entry] template may name. The ID number and birthday are not
# among them: an application keeps both only as keyed hashes.
ENTRY_FACTS = (
    "account",
    "student_id",
    "name_zh",
    "name_en",
    "surname",
    "given_name",
    "notification_address",
    "degree_level",
    "department",
    "entry_year",
    "graduation_year",
)


class DecisionRefused(HelpdeskError):
    """A staff decision cannot be made; the message (English) says why."""


@dataclass(frozen=True)
class Review:
    """What the directory says about an application, for staff to read before deciding.

    ``conflicts`` can be overridden by an explicit, audited staff decision;
    ``blocked`` cannot (the account or student ID is someone else's). ``entry`` is the
    LDAP or AD entry with the application's ID number, where the directory is one.
    """

    person_id: int | None
    conflicts: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    entry: str | None = None

    @property
    def clear(self) -> bool:
        return not self.conflicts and not self.blocked


@dataclass(frozen=True)
class Approval:
    """An approved application's account, and where it is to be created.

    ``entry``: the DN written into the directory (``applications = "write"``).
    ``by_hand``: what staff create the account from (``"queue"``), as (fact, value).
    """

    account: str
    entry: str | None = None
    by_hand: tuple[tuple[str, str], ...] = ()


def _same_name_en(a: str, b: str) -> bool:
    """Passport names match in any word order and with or without hyphens."""
    words_a, words_b = re.findall(r"[a-z]+", fold(a)), re.findall(r"[a-z]+", fold(b))
    return sorted(words_a) == sorted(words_b) or "".join(words_a) == "".join(words_b)


async def review(session: AsyncSession, application: AlumniApplication, profile: Profile) -> Review:
    """Compare an application with the directory record of its ID number, if any."""
    blocked: list[str] = []
    username = profile.accounts.alumni_account_for(application.student_id)
    if username is None:
        blocked.append("the profile has no alumni account format")
    elif await session.scalar(select(Account.id).where(Account.username == username)):
        blocked.append(f"the account {username} already exists")
    person = await session.scalar(
        select(Person)
        .where(Person.id_number_hash == application.id_number_hash)
        .order_by(Person.id)
        .limit(1)
    )
    record = await session.scalar(
        select(StudentRecord).where(StudentRecord.student_id == application.student_id)
    )
    if record is not None and (person is None or record.person_id != person.id):
        blocked.append(
            f"student ID {application.student_id} belongs to another person in the directory"
        )
    if person is None:
        return Review(None, blocked=tuple(blocked))
    conflicts: list[str] = []
    whose = f"person {person.id} in the directory, who has this ID number"
    if person.birthday_hash != application.birthday_hash:
        conflicts.append(f"the birthday differs from {whose}")
    if fold(person.name_zh) != fold(application.name_zh):
        conflicts.append(f"the Chinese name differs from {whose}")
    if not _same_name_en(person.name_en, application.name_en):
        conflicts.append(f"the English name differs from {whose}")
    if record is None:
        conflicts.append(f"student ID {application.student_id} is not among the records of {whose}")
    alumni_account = await session.scalar(
        select(Account.username).where(
            Account.person_id == person.id, Account.kind == AccountKind.ALUMNI
        )
    )
    if alumni_account is not None:
        conflicts.append(f"{whose} already has the alumni account {alumni_account}")
    return Review(person.id, tuple(conflicts), tuple(blocked))


async def _indexed(
    session: AsyncSession, application: AlumniApplication
) -> list[DirectoryIndexEntry]:
    """The index entries with the application's ID number or its student ID."""
    rows = await session.scalars(
        select(DirectoryIndexEntry)
        .where(
            or_(
                DirectoryIndexEntry.id_number_hash == application.id_number_hash,
                DirectoryIndexEntry.student_id == application.student_id,
            )
        )
        .order_by(DirectoryIndexEntry.dn)
    )
    return list(rows)


async def _review_in_directory(
    application: AlumniApplication,
    profile: Profile,
    directory: LdapDirectory,
    indexed: list[DirectoryIndexEntry],
) -> Review:
    """``review`` where the directory is LDAP or AD: its entries are the record.

    Called outside any transaction (it asks the directory); raises DirectoryUnavailable.
    """
    blocked: list[str] = []
    username = profile.accounts.alumni_account_for(application.student_id)
    if username is None:
        blocked.append("the profile has no alumni account format")
    elif await directory.find_target(username, id_number_hash=None) is not None:
        blocked.append(f"the account {username} already exists in the directory")
    same = [row for row in indexed if row.id_number_hash == application.id_number_hash]
    if any(row.student_id == application.student_id for row in indexed if row not in same):
        blocked.append(
            f"student ID {application.student_id} belongs to another person in the directory"
        )
    if not same:
        return Review(None, blocked=tuple(blocked))
    whose = f"the directory entry {same[0].dn}, which has this ID number"
    if len(same) > 1:
        whose = f"the {len(same)} directory entries with this ID number ({same[0].dn}, ...)"
    conflicts: list[str] = []
    if any(row.birthday_hash != application.birthday_hash for row in same):
        conflicts.append(f"the birthday differs from {whose}")
    names: list[str] = []
    accounts: list[str] = []
    for row in same:
        found = await directory.account(f"{TargetKind.ACCOUNT}:{row.dn}")
        if found is not None:  # else gone since the last sync
            accounts.append(found.name)
            # Its personal words are its names on file, account names and student IDs.
            names += await directory.personal_words(found)
    if not any(fold(name) == fold(application.name_zh) for name in names):
        conflicts.append(f"the Chinese name differs from {whose}")
    if not any(_same_name_en(name, application.name_en) for name in names):
        conflicts.append(f"the English name differs from {whose}")
    if application.student_id not in {row.student_id for row in same}:
        conflicts.append(f"student ID {application.student_id} is not among the records of {whose}")
    alumni_names = {
        profile.accounts.alumni_account_for(row.student_id) for row in same if row.student_id
    }
    alumni_account = next((name for name in accounts if name in alumni_names), None)
    if alumni_account is not None:
        conflicts.append(f"{whose} already has the alumni account {alumni_account}")
    return Review(None, tuple(conflicts), tuple(blocked), entry=same[0].dn)


async def pending_applications(session: AsyncSession) -> list[AlumniApplication]:
    """The applications waiting for review, oldest first."""
    rows = await session.scalars(
        select(AlumniApplication)
        .where(AlumniApplication.status == ApplicationStatus.PENDING)
        .order_by(AlumniApplication.id)
    )
    return list(rows)


async def pending_reviews(
    sessions: async_sessionmaker[AsyncSession],
    profile: Profile,
    directory: LdapDirectory | None,
) -> list[tuple[AlumniApplication, Review]]:
    """Each pending application with what the directory says about it, oldest first.

    ``directory``: the profile's LDAP or AD directory, None where it is the bot's tables.
    A directory that does not answer blocks every application until it does.
    """
    async with sessions() as session:
        rows = await pending_applications(session)
        if directory is None:
            return [(row, await review(session, row, profile)) for row in rows]
        indexed = [await _indexed(session, row) for row in rows]
    reviews: list[tuple[AlumniApplication, Review]] = []
    for row, entries in zip(rows, indexed, strict=True):
        try:
            checked = await _review_in_directory(row, profile, directory, entries)
        except DirectoryUnavailable:
            checked = Review(None, blocked=("the directory did not answer; check again later",))
        reviews.append((row, checked))
    return reviews


async def _pending(session: AsyncSession, number: int) -> AlumniApplication:
    application = await session.get(AlumniApplication, number, with_for_update=True)
    if application is None:
        raise DecisionRefused(f"No application {number}.")
    if application.status != ApplicationStatus.PENDING:
        raise DecisionRefused(f"Application {number} is {application.status}, not pending.")
    return application


def _tell(
    session: AsyncSession,
    profile: Profile,
    application: AlumniApplication,
    now: dt.datetime,
    msgid: str,
    /,
    **params: object,
) -> None:
    """Tell the applicant in the chat they applied from and by mail, in their language."""
    t = Translator(application.locale)
    session.add(
        ChatNotice(
            channel=application.channel,
            chat_id=application.chat_id,
            text=t._(msgid, **params),
            created_at=now,
        )
    )
    enqueue(
        session,
        to=application.email,
        subject=t._(MAIL_SUBJECT, institution=profile.display_name.get(application.locale)),
        body=t._(msgid, **params),
        now=now,
    )


async def _new_person(
    session: AsyncSession, application: AlumniApplication, now: dt.datetime
) -> Person:
    person = Person(
        name_zh=application.name_zh,
        name_en=application.name_en,
        role=Role.ALUMNUS,
        id_number_hash=application.id_number_hash,
        birthday_hash=application.birthday_hash,
        id_number_masked=application.id_number_masked,
        notification_email=application.email,
        created_at=now,
    )
    session.add(person)
    await session.flush()
    return person


def _decidable(number: int, checked: Review, override: str | None) -> None:
    """Refuse a blocked application, or a conflicting one without an override."""
    if checked.blocked:
        raise DecisionRefused(
            f"Application {number} cannot be approved: {'; '.join(checked.blocked)}."
        )
    if checked.conflicts and not override:
        raise DecisionRefused(
            f"Application {number} conflicts with the directory: {'; '.join(checked.conflicts)}. "
            "Nothing was changed. Check with the registrar; to approve anyway, give "
            "--override REASON (audited)."
        )


def _audit_decision(
    session: AsyncSession,
    number: int,
    action: str,
    *,
    now: dt.datetime,
    actor: str,
    checked: Review | None = None,
    override: str | None = None,
    **detail: object,
) -> None:
    """Audit staff's decision on application ``number``: an approval past the review's
    conflicts is an override, naming them and the reason given."""
    conflicts = list(checked.conflicts) if checked is not None else []
    audit.record(
        session,
        at=now,
        channel="cli",
        actor=actor,
        flow="alumni_admin",
        action=action,
        outcome="override" if conflicts else "done",
        application=number,
        **detail,
        **({"conflicts": conflicts, "override": override} if conflicts else {}),
    )


async def approve(
    sessions: async_sessionmaker[AsyncSession],
    number: int,
    *,
    profile: Profile,
    directory: LdapDirectory | None,
    now: dt.datetime,
    actor: str,
    override: str | None = None,
) -> Approval:
    """Approve application ``number``: create the alumni account, tell the applicant.

    ``directory``: the profile's LDAP or AD directory, None where accounts live in the
    bot's tables. Raises ``DecisionRefused`` when the application is blocked, or
    conflicts with the directory and no ``override`` reason is given, or the directory
    refuses the entry; ``DirectoryUnavailable`` when it does not answer. Either way the
    application stays pending and nothing is written.
    """
    if directory is None:
        async with sessions() as session, session.begin():
            return Approval(
                await _approve_in_tables(
                    session, number, profile=profile, now=now, actor=actor, override=override
                )
            )
    async with sessions() as session:
        application = await _pending(session, number)
        indexed = await _indexed(session, application)
    # The directory is asked with no transaction open: under SQLite one would hold
    # the whole database while it answers.
    checked = await _review_in_directory(application, profile, directory, indexed)
    _decidable(number, checked, override)
    username = profile.accounts.alumni_account_for(application.student_id)
    assert username is not None  # blocked above otherwise
    written = None
    if profile.directory.applications == "write":
        written = await _write_entry(directory, profile, application, username, number)
    async with sessions() as session, session.begin():
        decided = await session.execute(
            update(AlumniApplication)
            .where(
                AlumniApplication.id == number,
                AlumniApplication.status == ApplicationStatus.PENDING,
            )
            .values(status=ApplicationStatus.APPROVED, account=username, decided_at=now)
        )
        if decided.rowcount != 1:  # type: ignore[attr-defined]
            where = f" The entry {written} is in the directory: check it." if written else ""
            raise DecisionRefused(f"Application {number} was decided meanwhile.{where}")
        _audit_decision(
            session,
            number,
            "approve",
            now=now,
            actor=actor,
            checked=checked,
            override=override,
            directory="written" if written else "queued",
            **({"entry": checked.entry} if checked.entry else {}),
        )
        if written:
            # The entry cannot carry the ID number: index it by the application's hashes,
            # so a reset that proves the ID number finds the account.
            await index_approved(
                session,
                written,
                id_number_hash=application.id_number_hash,
                birthday_hash=application.birthday_hash,
                degree_level=application.degree_level,
                now=now,
            )
            _tell(session, profile, application, now, APPROVED, number=number, account=username)
        else:
            _tell(
                session, profile, application, now, APPROVED_QUEUED, number=number, account=username
            )
    if written:
        return Approval(username, entry=written)
    return Approval(username, by_hand=_by_hand(application, profile, username))


def entry_facts(application: AlumniApplication, account: str) -> dict[str, str]:
    """What a ``[directory.new_entry]`` template is filled with (``ENTRY_FACTS``)."""
    name_en = " ".join(application.name_en.split())
    # Passport order, surname first ("LIN, MING-ZHI" or "Lin Ming-Zhi").
    surname, _, given = name_en.partition("," if "," in name_en else " ")
    return {
        "account": account,
        "student_id": application.student_id,
        "name_zh": application.name_zh,
        "name_en": name_en,
        "surname": surname.strip() or name_en,
        "given_name": given.strip(),
        "notification_address": application.email,
        "degree_level": application.degree_level,
        "department": application.department,
        "entry_year": str(application.entry_year),
        "graduation_year": str(application.graduation_year),
    }


async def _write_entry(
    directory: LdapDirectory,
    profile: Profile,
    application: AlumniApplication,
    account: str,
    number: int,
) -> str:
    """Write the profile's new entry for ``application``; its DN, or DecisionRefused."""
    nothing = "Nothing was changed; the application is still pending."
    if profile.directory.backend == "ad":
        raise DecisionRefused(
            f"Application {number} cannot be written to Active Directory: AD takes a first "
            "password only in clear text (unicodePwd), and an application keeps the ID number "
            'only as hashes. Set [directory] applications = "queue" and create the account '
            f"by hand. {nothing}"
        )
    try:
        return await directory.create_account(
            entry_facts(application, account), "{ARGON2}" + application.default_password_hash
        )
    except AccountExists:
        raise DecisionRefused(
            f"Application {number} cannot be approved: the directory already has an entry "
            f"for the account {account}. {nothing}"
        ) from None
    except PasswordRefused:
        raise DecisionRefused(
            f"The directory refused the first password of application {number}. It is "
            "written already hashed ({ARGON2}, the ID number is never kept in clear), so the "
            "directory must load OpenLDAP's argon2 module, and the password policy of new "
            "entries must accept a hashed value (pwdCheckQuality 0 or 1; name such a policy "
            "with pwdPolicySubentry in [directory.new_entry.attributes]). Or set "
            f'applications = "queue". {nothing}'
        ) from None
    except ConfigurationError as exc:
        raise DecisionRefused(
            f"{exc}: a new entry can name {', '.join('{' + f + '}' for f in ENTRY_FACTS)} "
            "(an application keeps the ID number and birthday only as keyed hashes). "
            f"{nothing}"
        ) from None


def _by_hand(
    application: AlumniApplication, profile: Profile, account: str
) -> tuple[tuple[str, str], ...]:
    """What staff create a queued account from (no clear ID number: the registrar has it)."""
    facts = entry_facts(application, account)
    rows = [
        ("account", account),
        ("name (Chinese)", facts["name_zh"]),
        ("name (English)", facts["name_en"]),
        ("student ID", facts["student_id"]),
        ("programme", facts["degree_level"]),
        ("department", facts["department"]),
        ("years", f"{facts['entry_year']}-{facts['graduation_year']}"),
        ("notification address", facts["notification_address"]),
        (
            "first password",
            f"the ID number {application.id_number_masked} with its letters in upper case, "
            "to be changed at the first login",
        ),
    ]
    template = profile.directory.new_entry
    if template is not None:
        with contextlib.suppress(KeyError):  # a template naming a fact not at hand
            rows.insert(1, ("DN", template.dn.format_map(facts)))
    return tuple(rows)


async def _approve_in_tables(
    session: AsyncSession,
    number: int,
    *,
    profile: Profile,
    now: dt.datetime,
    actor: str,
    override: str | None = None,
) -> str:
    """``approve`` where accounts live in the bot's tables, in the caller's transaction."""
    application = await _pending(session, number)
    checked = await review(session, application, profile)
    _decidable(number, checked, override)
    username = profile.accounts.alumni_account_for(application.student_id)
    assert username is not None  # review() blocks a profile without the format
    if checked.person_id is None:
        person_id = (await _new_person(session, application, now)).id
    else:
        # The existing record keeps its names and contact data: only the account and,
        # when missing, the enrolment the applicant named are added.
        person_id = checked.person_id
    if not await session.scalar(
        select(StudentRecord.id).where(StudentRecord.student_id == application.student_id)
    ):
        session.add(
            StudentRecord(
                person_id=person_id,
                student_id=application.student_id,
                degree_level=application.degree_level,
                department=application.department,
                entry_year=application.entry_year,
                status=RecordStatus.GRADUATED,
            )
        )
    # Seed 003: the first password is the ID number (hashed when the applicant typed
    # it) and must be changed at the first login. No chat is linked.
    session.add(
        Account(
            person_id=person_id,
            username=username,
            kind=AccountKind.ALUMNI,
            password_hash=application.default_password_hash,
            password_changed_at=now,
            must_change=True,
        )
    )
    application.status = ApplicationStatus.APPROVED
    application.account = username
    application.decided_at = now
    _audit_decision(
        session,
        number,
        "approve",
        now=now,
        actor=actor,
        checked=checked,
        override=override,
        person=person_id,
    )
    _tell(session, profile, application, now, APPROVED, number=number, account=username)
    return username


async def reject(
    session: AsyncSession,
    number: int,
    *,
    reason: str,
    profile: Profile,
    now: dt.datetime,
    actor: str,
) -> None:
    """Reject application ``number``, telling the applicant ``reason``."""
    application = await _pending(session, number)
    application.status = ApplicationStatus.REJECTED
    application.reason = reason
    application.decided_at = now
    _audit_decision(session, number, "reject", now=now, actor=actor)
    _tell(session, profile, application, now, REJECTED, number=number, reason=reason)
