"""The directory port: where accounts and passwords live, whatever holds them.

``Directory`` is what the use cases ask of the institution's directory; ``sql`` keeps it
in the bot's own tables (the embedded default and the demo), ``ldap`` in OpenLDAP or
389-DS, ``ad`` in Active Directory. The profile's ``[directory]`` section chooses.
Chat identities, conversations, tokens, cards, audit and queues stay in the bot's
database whichever it is.

Lookups by national ID number read a local index (``core.directory.sync``), never the
directory: our hashes are keyed, so the directory cannot be searched by them, and a
search by the clear number would put it in the directory server's logs and in the
filter on the wire; a local query also costs the same whether or not it matches.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from core.errors import HelpdeskError, ServiceUnavailable, UserFacingError
from core.i18n import N_
from core.password_policy import PasswordPolicy, Violation, describe, must_change


class TargetKind(StrEnum):
    ACCOUNT = "account"
    MAILBOX = "mailbox"


@dataclass(frozen=True, slots=True)
class DirectoryAccount:
    """An account or mailbox whose password can be set, and where its mail goes.

    ``ref`` names it to the backend that found it (``account:12`` in SQL, the DN in
    LDAP); ``owner`` names its person the same way.
    """

    kind: TargetKind
    ref: str
    name: str
    owner: str
    send_to: str | None
    suspended: bool = False
    notice: str | None = None
    locked: bool = False


@dataclass(frozen=True, slots=True)
class StudentMatch:
    """A student ID found by ID number and birthday, with its enrolment status if known.

    ``status`` is a ``core.models.RecordStatus`` value ("graduated" makes the answer the
    alumni one), or None where the directory does not say.
    """

    student_id: str
    status: str | None = None


class _FindsStudents(Protocol):
    async def find_students(
        self, *, id_number_hash: str, birthday_hash: str, degree_level: str
    ) -> list[StudentMatch]: ...


async def student_ids_found(
    self: _FindsStudents, *, id_number_hash: str, birthday_hash: str, degree_level: str
) -> list[str]:
    """``find_student_ids`` of anything with ``find_students``: the student IDs of that
    one lookup, newest first. A class takes it as ``find_student_ids = student_ids_found``."""
    found = await self.find_students(
        id_number_hash=id_number_hash, birthday_hash=birthday_hash, degree_level=degree_level
    )
    return [match.student_id for match in found]


@dataclass(frozen=True, slots=True)
class PasswordState:
    """What the directory says about the current password."""

    changed_at: dt.datetime | None
    must_change: bool = False  # pwdReset, AD pwdLastSet=0, a school-set first password
    expires_at: dt.datetime | None = None  # the directory's own maximum age
    locked: bool = False

    def reason(
        self, policy: PasswordPolicy, *, now: dt.datetime, zone: dt.tzinfo | None = None
    ) -> Violation | None:
        """Why the password must change now, under the directory's and the profile's rules.

        ``zone`` is the institution's: a cutoff date is a date there.
        """
        if self.expires_at is not None and now >= self.expires_at:
            return Violation.EXPIRED
        if self.changed_at is None:
            return Violation.MUST_CHANGE if self.must_change else None
        if zone is None:
            return must_change(
                policy, changed_at=self.changed_at, now=now, must_change_flag=self.must_change
            )
        return must_change(
            policy,
            changed_at=self.changed_at,
            now=now,
            must_change_flag=self.must_change,
            zone=zone,
        )


# --- errors ----------------------------------------------------------------------


class DirectoryUnavailable(ServiceUnavailable):
    """No directory server answered in time; nothing was changed."""

    msgid = N_(
        "The service is temporarily unavailable. Nothing was changed; please try again in a few"
        " minutes."
    )


class WrongPassword(UserFacingError):
    """The current password given is not the account's."""

    def __init__(self) -> None:
        super().__init__(N_("The current password is not right."))


class AccountLocked(UserFacingError):
    """The directory has locked the account (too many wrong passwords, or an administrator)."""

    def __init__(self) -> None:
        super().__init__(
            N_(
                "This account is locked after too many wrong passwords. Wait and try again"
                " later, or ask the help desk."
            )
        )


class AccountExists(UserFacingError):
    """The directory already holds an account of that name."""

    def __init__(self) -> None:
        super().__init__(N_("An account with that name already exists; ask the help desk."))


class Refusal(StrEnum):
    """Why a directory refused a new password (OpenLDAP ppolicy, AD)."""

    TOO_SHORT = "too_short"
    QUALITY = "quality"
    IN_HISTORY = "in_history"
    TOO_YOUNG = "too_young"
    CHANGE_AFTER_RESET = "change_after_reset"
    EXPIRED = "expired"
    NOT_ALLOWED = "not_allowed"


_OWN_TEXTS: dict[Refusal, str] = {
    Refusal.QUALITY: N_(
        "The directory does not accept this password as strong enough; choose another."
    ),
    Refusal.TOO_YOUNG: N_(
        "The password was changed too recently to change it again; try again later."
    ),
    Refusal.NOT_ALLOWED: N_(
        "The directory does not let this account change its password here; ask the help desk."
    ),
}
# Refusals that are one of the page's own rules read as that rule.
_AS_VIOLATION: dict[Refusal, Violation] = {
    Refusal.TOO_SHORT: Violation.TOO_SHORT,
    Refusal.IN_HISTORY: Violation.REUSED,
    Refusal.CHANGE_AFTER_RESET: Violation.MUST_CHANGE,
    Refusal.EXPIRED: Violation.EXPIRED,
}


class PasswordRefused(UserFacingError):
    """The directory refused the new password; nothing was changed."""

    def __init__(self, refusal: Refusal, policy: PasswordPolicy) -> None:
        self.refusal = refusal
        self.violation = _AS_VIOLATION.get(refusal)
        params: dict[str, Any] = {}
        if self.violation is not None:
            requirement = describe(policy, self.violation)
            msgid, params = requirement.message, dict(requirement.params)
        else:
            msgid = _OWN_TEXTS[refusal]
        super().__init__(msgid, **params)


class ChangedMeanwhile(HelpdeskError):
    """Another submission set this password between reading and writing; nothing was changed."""


def link_subject(account: DirectoryAccount) -> str:
    """What a one-time link for ``account`` names: its kind and its reference.

    ``account:12`` in SQL (whose reference already says its kind), ``mailbox:<dn>`` in
    LDAP, where one entry is both an account and a mailbox.
    """
    if account.ref.partition(":")[0] == account.kind:
        return account.ref
    return f"{account.kind}:{account.ref}"


# --- the port --------------------------------------------------------------------


class Directory(Protocol):
    """Accounts, passwords and their state, in whatever holds them."""

    async def find_student_ids(
        self, *, id_number_hash: str, birthday_hash: str, degree_level: str
    ) -> list[str]:
        """Student IDs of the person with this ID number and birthday in this degree level."""
        ...

    async def find_students(
        self, *, id_number_hash: str, birthday_hash: str, degree_level: str
    ) -> list[StudentMatch]:
        """``find_student_ids`` with each ID's enrolment status, newest first, one lookup."""
        ...

    async def find_target(
        self, name: str, *, id_number_hash: str | None
    ) -> DirectoryAccount | None:
        """The account or mailbox called ``name``, if its owner has this ID number.

        ``id_number_hash=None`` skips the ownership check (a change link, whose page asks
        for the current password).
        """
        ...

    async def account(self, subject: str) -> DirectoryAccount | None:
        """The account or mailbox a one-time link names (``link_subject``), if still there."""
        ...

    async def verify_password(self, account: DirectoryAccount, password: str) -> bool:
        """Whether ``password`` is the current one; raises AccountLocked when locked."""
        ...

    async def reset_password(self, account: DirectoryAccount, new_password: str) -> None:
        """Set a new password as the service (a proven reset link)."""
        ...

    async def change_password(
        self, account: DirectoryAccount, current_password: str, new_password: str
    ) -> None:
        """Change the password as the user, so the directory's own policy applies."""
        ...

    async def password_state(self, account: DirectoryAccount) -> PasswordState:
        """When the password was set and whether the directory demands a change."""
        ...

    async def personal_words(self, account: DirectoryAccount) -> list[str]:
        """What a new password must not contain: names, account names, student IDs."""
        ...

    async def accounts_of(self, owner: str) -> list[DirectoryAccount]:
        """The accounts (not mailboxes) of the person ``owner`` names, oldest first.

        ``owner`` as ``DirectoryAccount.owner`` gives it: what a linked chat keeps.
        """
        ...

    async def owner_by_address(self, address: str) -> str | None:
        """The person whose mailbox or notification address this is (as an ``owner``),
        if exactly one."""
        ...

    async def mailboxes_of(self, owner: str) -> list[DirectoryAccount]:
        """The mailboxes of the person ``owner`` names, by address (``TargetKind.MAILBOX``).

        Each as ``find_target`` would find it by its address: suspended or locked, its
        links going to the notification address on file.
        """
        ...


__all__ = [
    "AccountExists",
    "AccountLocked",
    "ChangedMeanwhile",
    "Directory",
    "DirectoryAccount",
    "DirectoryUnavailable",
    "PasswordRefused",
    "PasswordState",
    "Refusal",
    "StudentMatch",
    "TargetKind",
    "WrongPassword",
    "link_subject",
]
