"""Accounts and mailboxes whose password can be set: find them, set the password.

Targets are named the way users know them: a student ID or alumni account (an
``Account``) or a mailbox address (a ``Mailbox``, whose reset link goes to the
notification address on file, seed 002).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from core import password_words
from core.models import (
    Account,
    Mailbox,
    MailboxCondition,
    OneTimeToken,
    PasswordHistory,
    Person,
)
from core.passwords import PasswordHasher
from core.profiles import Profile
from core.text import normalise

MAX_NAME_LENGTH = 254


@dataclass(frozen=True, slots=True)
class Target:
    """What a one-time link sets the password of, and where its mail goes."""

    kind: str  # "account" or "mailbox"
    id: int
    name: str
    person_id: int
    send_to: str | None
    suspended: bool
    notice: str | None

    @property
    def subject(self) -> str:
        return f"{self.kind}:{self.id}"


def normalise_name(text: str) -> str:
    """An account name or address as typed: full-width folded, invisible marks dropped."""
    text = normalise(text[: MAX_NAME_LENGTH * 2])
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc")
    return "".join(text.split())[:MAX_NAME_LENGTH]


def is_address(name: str) -> bool:
    return re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", name) is not None


async def find_target(
    session: AsyncSession, profile: Profile, *, name: str, id_number_hash: str | None
) -> Target | None:
    """The account or mailbox called ``name``, if its owner has this ID number.

    ``id_number_hash=None`` skips the ownership check (a change link, whose page asks
    for the current password).
    """
    if is_address(name):
        mailbox = await session.scalar(
            select(Mailbox).where(func.lower(Mailbox.address) == name.lower())
        )
        if mailbox is None or mailbox.condition == MailboxCondition.DISABLED:
            return None
        if not await _owned(session, mailbox.person_id, id_number_hash):
            return None
        return Target(
            kind="mailbox",
            id=mailbox.id,
            name=mailbox.address,
            person_id=mailbox.person_id,
            send_to=mailbox.notification_address,
            suspended=mailbox.condition == MailboxCondition.SUSPENDED,
            notice=mailbox.suspension_notice,
        )
    # The owner comes in the same query, so checking the ID number costs no round trip of
    # its own (a match must not take measurably longer than a miss).
    account = await session.scalar(
        select(Account)
        .options(joinedload(Account.person))
        .where(func.lower(Account.username) == name.lower())
    )
    if account is None or not await _owned(session, account.person_id, id_number_hash):
        return None
    return Target(
        kind="account",
        id=account.id,
        name=account.username,
        person_id=account.person_id,
        send_to=await _account_address(session, profile, account),
        suspended=False,
        notice=None,
    )


def shown_address(profile: Profile, name: str) -> str | None:
    """The address the reply may name, derived from the input alone.

    The reply must read the same whether or not the account exists, so it can only
    show what the input implies: the campus mailbox of a student ID (NTUE's
    a{student_id}@grad.ntue.edu.tw, seed 001).
    """
    if is_address(name) or not re.fullmatch(profile.accounts.student_id_pattern, name):
        return None
    return profile.accounts.campus_mail_for(name)


async def _owned(session: AsyncSession, person_id: int, id_number_hash: str | None) -> bool:
    if id_number_hash is None:
        return True
    person = await session.get(Person, person_id)
    return person is not None and person.id_number_hash == id_number_hash


async def _account_address(session: AsyncSession, profile: Profile, account: Account) -> str | None:
    """The campus mailbox a student ID implies (seed 001), if it can receive mail;
    otherwise the person's notification address."""
    campus = profile.accounts.campus_mail_for(account.username)
    if campus and shown_address(profile, account.username):
        condition = await session.scalar(
            select(Mailbox.condition).where(func.lower(Mailbox.address) == campus.lower())
        )
        if condition in (MailboxCondition.NORMAL, MailboxCondition.PENDING):
            return campus
    person = await session.get(Person, account.person_id)
    return person.notification_email if person is not None else None


async def password_hashes(session: AsyncSession, target: Target, depth: int) -> list[str]:
    """The current hash and the last ``depth`` earlier ones, newest first."""
    if target.kind == "mailbox":
        mailbox = await session.get(Mailbox, target.id)
        return [mailbox.password_hash] if mailbox and mailbox.password_hash else []
    account = await session.get(Account, target.id)
    if account is None:
        return []
    earlier = await session.scalars(
        select(PasswordHistory.password_hash)
        .where(PasswordHistory.account_id == account.id)
        .order_by(PasswordHistory.created_at.desc(), PasswordHistory.id.desc())
        .limit(depth)
    )
    return [account.password_hash, *earlier]


async def store_password(
    session: AsyncSession,
    hasher: PasswordHasher,
    target: Target,
    new_password: str,
    *,
    now: dt.datetime,
) -> None:
    """Hash (off the event loop) and store; the old hash goes to the history."""
    new_hash = await hasher.hash(new_password)
    if target.kind == "mailbox":
        mailbox = await session.get(Mailbox, target.id)
        assert mailbox is not None
        mailbox.password_hash = new_hash
        mailbox.password_changed_at = now
        return
    account = await session.get(Account, target.id)
    assert account is not None
    session.add(
        PasswordHistory(account_id=account.id, password_hash=account.password_hash, created_at=now)
    )
    account.password_hash = new_hash
    account.password_changed_at = now
    account.must_change = False


async def replace_password_hash(
    session: AsyncSession, target: Target, read: str | None, new_hash: str, *, now: dt.datetime
) -> bool:
    """Store ``new_hash`` if the hash is still ``read``; the old one goes to the history.

    False, changing nothing, when another writer set the password in between.
    """
    if target.kind == "mailbox":
        changed = await session.execute(
            update(Mailbox)
            .where(Mailbox.id == target.id, _same(Mailbox.password_hash, read))
            .values(password_hash=new_hash, password_changed_at=now)
            .returning(Mailbox.id)
        )
        return changed.first() is not None
    changed = await session.execute(
        update(Account)
        .where(Account.id == target.id, _same(Account.password_hash, read))
        .values(password_hash=new_hash, password_changed_at=now, must_change=False)
        .returning(Account.id)
    )
    if changed.first() is None:
        return False
    if read is not None:
        session.add(PasswordHistory(account_id=target.id, password_hash=read, created_at=now))
    return True


def _same(column: Any, read: str | None) -> Any:
    return column.is_(None) if read is None else column == read


async def target_of(session: AsyncSession, profile: Profile, subject: str) -> Target | None:
    """The account or mailbox a one-time link's subject (``account:12``) names."""
    kind, _, key = subject.partition(":")
    if not key.isdigit():
        return None
    if kind == "mailbox":
        mailbox = await session.get(Mailbox, int(key))
        name = mailbox.address if mailbox is not None else None
    else:
        account = await session.get(Account, int(key))
        name = account.username if account is not None else None
    if name is None:
        return None
    found = await find_target(session, profile, name=name, id_number_hash=None)
    return found if found is not None and found.subject == subject else None


async def personal_words(session: AsyncSession, target: Target) -> list[str]:
    """What a new password for ``target`` must not contain (``password_words.personal_words``)."""
    person = await session.scalar(
        select(Person).where(Person.id == target.person_id).options(selectinload(Person.records))
    )
    if person is None:
        return [target.name]
    return password_words.personal_words(person, [target.name])


async def account_names(session: AsyncSession, person_id: int) -> list[str]:
    """The names of a person's accounts, oldest first."""
    rows = await session.scalars(
        select(Account.username).where(Account.person_id == person_id).order_by(Account.id)
    )
    return list(rows)


async def username_taken(session: AsyncSession, username: str) -> bool:
    """Whether an account already has exactly this name."""
    return await session.scalar(select(Account.id).where(Account.username == username)) is not None


@dataclass(frozen=True, slots=True)
class PasswordFacts:
    """What a new password of an account is checked against (``helpdesk policy check``)."""

    personal: tuple[str, ...]  # ``password_words.personal_words``, as the page checks
    hashes: tuple[str, ...]  # the current hash first, then earlier ones, newest first


async def password_facts(session: AsyncSession, username: str) -> PasswordFacts | None:
    """The personal words and password hashes of the account ``username`` (any case)."""
    account = await session.scalar(
        select(Account)
        .where(func.lower(Account.username) == username.lower())
        .options(
            selectinload(Account.person).selectinload(Person.records),
            selectinload(Account.history),
        )
    )
    if account is None:
        return None
    return PasswordFacts(
        personal=tuple(password_words.personal_words(account.person, [account.username])),
        hashes=(account.password_hash, *(old.password_hash for old in account.history)),
    )


async def person_by_address(session: AsyncSession, address: str) -> int | None:
    """The person whose mailbox or notification address this is, if exactly one."""
    address = address.strip().lower()
    owners = set(
        await session.scalars(
            select(Mailbox.person_id).where(func.lower(Mailbox.address) == address)
        )
    )
    owners |= set(
        await session.scalars(
            select(Person.id).where(func.lower(Person.notification_email) == address)
        )
    )
    return owners.pop() if len(owners) == 1 else None


# -- enrolment codes: what a new member of staff with no address on file can prove ----------

# A code staff hand to a new hire in person (seed 004: a new staff member's only mailbox is
# the pending one). 10 characters of Crockford's base32, 50 bits: typed once, limited per
# chat user like every other answer, and only a hash is stored.
ENROLMENT_PURPOSE = "enrolment_code"
ENROLMENT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ENROLMENT_LENGTH = 10
_ENROLMENT_SHAPE = re.compile(rf"[{ENROLMENT_ALPHABET}]{{{ENROLMENT_LENGTH}}}")


def _enrolment_digest(key: bytes, code: str) -> str:
    return hmac.new(key, f"enrolment\x00{code}".encode(), hashlib.sha256).hexdigest()


def normalise_enrolment_code(text: str) -> str | None:
    """The code as typed ("k7qm-2x9d-pa", full width, O for 0) in its stored form, if it is one."""
    code = normalise(text).upper().translate(str.maketrans("OIL", "011"))
    code = re.sub(r"[\s\-‐‑–—]", "", code)
    return code if _ENROLMENT_SHAPE.fullmatch(code) else None


async def issue_enrolment_code(
    session: AsyncSession,
    key: bytes,
    *,
    account: str,
    lifetime: dt.timedelta,
    now: dt.datetime,
) -> str | None:
    """A one-time code that links a chat to the owner of ``account``; None if no such account.

    Earlier unused codes for the same person end, so only the latest handed-out one works.
    The code is shown once, to the staff member who hands it over, as ``XXXX-XXXX-XX``.
    """
    owner = await session.scalar(
        select(Account.person_id).where(func.lower(Account.username) == account.lower())
    )
    if owner is None:
        return None
    earlier = await session.scalars(
        select(OneTimeToken).where(
            OneTimeToken.purpose == ENROLMENT_PURPOSE,
            OneTimeToken.subject == f"person:{owner}",
            OneTimeToken.used_at.is_(None),
        )
    )
    for row in earlier:
        row.used_at = now
    code = "".join(secrets.choice(ENROLMENT_ALPHABET) for _ in range(ENROLMENT_LENGTH))
    session.add(
        OneTimeToken(
            token_hash=_enrolment_digest(key, code),
            purpose=ENROLMENT_PURPOSE,
            subject=f"person:{owner}",
            data={"person_id": owner},
            expires_at=now + lifetime,
            created_at=now,
        )
    )
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


async def redeem_enrolment_code(
    session: AsyncSession, key: bytes, code: str, *, now: dt.datetime
) -> int | None:
    """The person a live enrolment code was issued for, using it up; None otherwise."""
    row = await session.scalar(
        select(OneTimeToken)
        .where(
            OneTimeToken.token_hash == _enrolment_digest(key, code),
            OneTimeToken.purpose == ENROLMENT_PURPOSE,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
        )
        .with_for_update()
    )
    if row is None:
        return None
    row.used_at = now
    person_id = row.data.get("person_id")
    return person_id if isinstance(person_id, int) else None
