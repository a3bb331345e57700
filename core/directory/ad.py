"""Active Directory: ``unicodePwd`` and AD's extended error data.

AD takes a password only over an encrypted connection (LDAPS or StartTLS) and only as
``unicodePwd``: the password in double quotes, UTF-16LE. A user changes it by deleting
the old value and adding the new one in one modify; the service resets it with a
replace. AD explains a failed bind in the diagnostic text ("... data 52e, v4563"), and
a refused password as a system error code ("0000052D: Constraint violation ...").
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Any

from core.directory import (
    AccountLocked,
    DirectoryUnavailable,
    PasswordRefused,
    PasswordState,
    Refusal,
    WrongPassword,
)
from core.directory.ldap import INVALID_CREDENTIALS, LdapDirectory, _close, first, ldap3

FILETIME_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.UTC)
UF_ACCOUNTDISABLE = 0x2
UF_LOCKOUT = 0x10
UF_DONT_EXPIRE_PASSWD = 0x10000


class BindProblem(StrEnum):
    """What the ``data`` code of a failed AD bind means."""

    NO_SUCH_USER = "525"
    WRONG_PASSWORD = "52e"
    NOT_PERMITTED_NOW = "530"
    NOT_PERMITTED_HERE = "531"
    PASSWORD_EXPIRED = "532"
    DISABLED = "533"
    ACCOUNT_EXPIRED = "701"
    MUST_RESET = "773"
    LOCKED = "775"


_DATA = re.compile(r"\bdata ([0-9a-fA-F]+)\b")
_SYSTEM_ERROR = re.compile(r"^([0-9A-Fa-f]{8}):")

# Win32 system errors AD puts first in a refused modify's diagnostic text.
ERROR_INVALID_PASSWORD = 0x56  # the old password given to a change is wrong
ERROR_PASSWORD_RESTRICTION = 0x52D  # length, complexity, history or minimum age


def unicode_pwd(password: str) -> bytes:
    """The value AD's ``unicodePwd`` takes: the password in double quotes, UTF-16LE."""
    return f'"{password}"'.encode("utf-16-le")


def bind_problem(message: str) -> BindProblem | None:
    """The ``data`` code of a failed AD bind ("...AcceptSecurityContext error, data 52e, v4563")."""
    match = _DATA.search(message or "")
    if match is None:
        return None
    try:
        return BindProblem(match.group(1).lower())
    except ValueError:
        return None


def system_error(message: str) -> int | None:
    """The Win32 error that opens AD's diagnostic text ("0000052D: ..."), if any."""
    match = _SYSTEM_ERROR.match(message or "")
    return int(match.group(1), 16) if match else None


def password_correct(problem: BindProblem | None) -> bool:
    """Whether a bind refused for ``problem`` still proves the password (it must change)."""
    return problem in (BindProblem.PASSWORD_EXPIRED, BindProblem.MUST_RESET)


def filetime(value: object) -> dt.datetime | None:
    """AD's 100-nanosecond intervals since 1601 as a datetime; 0 (or never) as None."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dt.datetime):
        return None if value <= FILETIME_EPOCH else value
    try:
        ticks = int(str(value))
    except (TypeError, ValueError):
        return None
    if ticks <= 0:
        return None
    return FILETIME_EPOCH + dt.timedelta(microseconds=ticks // 10)


def must_change_flag(pwd_last_set: object) -> bool:
    """AD's "user must change password at next logon": ``pwdLastSet`` is 0."""
    if isinstance(pwd_last_set, list):
        pwd_last_set = pwd_last_set[0] if pwd_last_set else None
    if isinstance(pwd_last_set, dt.datetime):
        return pwd_last_set <= FILETIME_EPOCH
    return str(pwd_last_set).strip() == "0"


class AdDirectory(LdapDirectory):
    """``Directory`` over Active Directory (set ``backend = "ad"`` and an ldaps:// URI)."""

    _AD_ATTRIBUTES = ("pwdLastSet", "userAccountControl", "lockoutTime")

    def _attributes(self) -> list[str]:
        return [
            name
            for name in super()._attributes()
            if not name.startswith("pwd") and name != "createTimestamp"
        ] + list(self._AD_ATTRIBUTES)

    def _verify(self, dn: str, password: str) -> bool:
        if not password:
            return False  # an empty password would be an anonymous bind
        connection = self._open(dn, password)
        try:
            if connection.bind():
                return True
            result: dict[str, Any] = connection.result
        finally:
            _close(connection)
        if result["result"] != INVALID_CREDENTIALS:
            raise DirectoryUnavailable(f"bind failed: {result['description']}")
        problem = bind_problem(result.get("message", ""))
        if problem is BindProblem.LOCKED:
            raise AccountLocked()
        # Expired or must reset: the password is right, AD only refuses to log in with it.
        return password_correct(problem)

    def _change(self, dn: str, current: str, new: str) -> None:
        connection = self._open(dn, current)
        try:
            # A user whose password must change cannot bind; AD accepts the change on a
            # connection bound as the service only as a reset, so bind as the user if it can.
            if not connection.bind():
                problem = bind_problem(connection.result.get("message", ""))
                if problem is BindProblem.LOCKED:
                    raise AccountLocked()
                if not password_correct(problem):
                    raise WrongPassword()
            connection.modify(  # type: ignore[no-untyped-call]
                dn,
                {
                    "unicodePwd": [
                        (ldap3.MODIFY_DELETE, [unicode_pwd(current)]),
                        (ldap3.MODIFY_ADD, [unicode_pwd(new)]),
                    ]
                },
            )
            self._check_modify(connection.result)
        finally:
            _close(connection)

    def _reset(self, dn: str, new: str) -> None:
        def work(connection: ldap3.Connection) -> None:
            connection.modify(  # type: ignore[no-untyped-call]
                dn, {"unicodePwd": [(ldap3.MODIFY_REPLACE, [unicode_pwd(new)])]}
            )
            self._check_modify(connection.result)
            # -1: "set now", so a password the user chose is not one to change at next logon.
            connection.modify(  # type: ignore[no-untyped-call]
                dn, {"pwdLastSet": [(ldap3.MODIFY_REPLACE, ["-1"])]}
            )

        self._as_service(work)

    def _check_modify(self, result: dict[str, Any]) -> None:
        if result["result"] == 0:
            return
        code = system_error(result.get("message", ""))
        policy = self._profile.password_policy
        if code == ERROR_INVALID_PASSWORD:
            raise WrongPassword()
        if code == ERROR_PASSWORD_RESTRICTION or result["result"] == 19:
            # AD does not say which rule: length, complexity, history or minimum age.
            raise PasswordRefused(Refusal.QUALITY, policy)
        raise DirectoryUnavailable(f"password modify failed: {result['description']}")

    def _password_state(self, dn: str) -> PasswordState:
        attributes = self._entry(dn)
        control = int(first(attributes, "userAccountControl") or 0)
        lockout = filetime(attributes.get("lockoutTime"))
        return PasswordState(
            changed_at=filetime(attributes.get("pwdLastSet")),
            must_change=must_change_flag(attributes.get("pwdLastSet")),
            locked=bool(control & UF_LOCKOUT) or lockout is not None,
        )
