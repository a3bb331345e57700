"""The directory in OpenLDAP or 389-DS, through ldap3.

ldap3 is pure Python (no libldap headers or compiler to install, so ``make run`` and
``make test`` still need nothing by hand); its calls block, so every one runs in this
module's own thread pool, never on the event loop. Servers are tried in the profile's
order with a connect and a receive timeout; the service connection is pooled. A change
binds as the user and uses the Password Modify extended operation (RFC 3062), so the
server's password policy applies, and its ppolicy answers become ``PasswordRefused``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import hmac
import logging
import math
import queue
import re
import ssl
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from core.accounts import is_address
from core.directory import (
    AccountExists,
    AccountLocked,
    DirectoryAccount,
    DirectoryUnavailable,
    PasswordRefused,
    PasswordState,
    Refusal,
    StudentMatch,
    TargetKind,
    WrongPassword,
    student_ids_found,
)
from core.errors import ConfigurationError, HelpdeskError
from core.pii import PiiHasher
from core.profiles import DirectoryConfig, Profile

with warnings.catch_warnings():
    # ldap3 2.9 reads pyasn1's old tagMap/typeMap names, deprecated since pyasn1 0.6.
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3 as ldap3  # re-exported for core.directory.ad
    from ldap3.core import tls as _ldap3_tls
    from ldap3.core.exceptions import LDAPCommunicationError, LDAPException, LDAPStartTLSError
    from ldap3.utils import tls_backport as _tls_backport
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import escape_rdn

# Python 3.12 removed ssl.match_hostname, and ldap3 then checks certificates' host names
# with its own copy; use that copy on 3.11 as well rather than the deprecated function.
_ldap3_tls.match_hostname = _tls_backport.match_hostname  # type: ignore[attr-defined]

T = TypeVar("T")
log = logging.getLogger(__name__)
BIND_PASSWORD_SETTING = "HELPDESK_DIRECTORY_BIND_PASSWORD"
# What ldap3 raises (beside its own exception class) when TLS fails: the handshake, the
# certificate's signature or its host name.
_TLS_FAILURES = (LDAPStartTLSError, ssl.SSLError, _tls_backport.CertificateError)


class StudentIndex(Protocol):
    """Where student-ID lookups look for an LDAP directory (``core.directory.sync``)."""

    async def find_students(
        self, *, id_number_hash: str, birthday_hash: str, degree_level: str
    ) -> list[StudentMatch]: ...

    async def approved_id_number(self, dn: str) -> str | None:
        """The ID-number hash an approved application gave the entry ``dn``, if any."""
        ...


PPOLICY_OID = "1.3.6.1.4.1.42.2.27.8.5.1"
PASSWORD_MODIFY_OID = "1.3.6.1.4.1.4203.1.11.1"
INVALID_CREDENTIALS = 49
ENTRY_ALREADY_EXISTS = 68
ATTRIBUTE_OR_VALUE_EXISTS = 20

# draft-behera-ldap-password-policy, PasswordPolicyResponseValue.error
PPOLICY_ERRORS: dict[int, Refusal | None] = {
    0: Refusal.EXPIRED,  # passwordExpired
    1: None,  # accountLocked: AccountLocked, not a refusal of the new password
    2: Refusal.CHANGE_AFTER_RESET,
    3: Refusal.NOT_ALLOWED,  # passwordModNotAllowed
    4: Refusal.NOT_ALLOWED,  # mustSupplyOldPassword
    5: Refusal.QUALITY,  # insufficientPasswordQuality
    6: Refusal.TOO_SHORT,  # passwordTooShort
    7: Refusal.TOO_YOUNG,  # passwordTooYoung
    8: Refusal.IN_HISTORY,  # passwordInHistory
}
ACCOUNT_LOCKED = 1
CHANGE_AFTER_RESET = 2

_OPERATIONAL = ["pwdChangedTime", "pwdReset", "pwdAccountLockedTime", "pwdPolicySubentry"]


def ppolicy_error(value: bytes | None) -> int | None:
    """The error code in a PasswordPolicyResponseValue (BER), or None when it has none.

    SEQUENCE { warning [0] ... OPTIONAL, error [1] ENUMERATED OPTIONAL }: small enough
    to read by hand, and ldap3 leaves this control undecoded.
    """
    if not value or value[0] != 0x30:
        return None
    position, end = _header(value, 0)
    while position < end:
        tag = value[position]
        start, stop = _header(value, position)
        if tag == 0x81:  # [1] IMPLICIT ENUMERATED
            return int.from_bytes(value[start:stop], "big")
        position = stop
    return None


def _header(data: bytes, position: int) -> tuple[int, int]:
    """Where the content of the TLV at ``position`` starts and ends."""
    length = data[position + 1]
    start = position + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    return start, start + length


def _ppolicy_code(result: Mapping[str, Any]) -> int | None:
    controls = result.get("controls") or {}
    control = controls.get(PPOLICY_OID)
    return ppolicy_error(control.get("value")) if control else None


def ldap_time(value: object) -> dt.datetime | None:
    """A GeneralizedTime attribute as an aware datetime (ldap3 may already have parsed it)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and value:
        text = value.rstrip("Z").split(".")[0]
        return dt.datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    return None


def first(attributes: Mapping[str, Any], name: str | None) -> str | None:
    """The first value of an attribute, as text; None when absent."""
    if not name:
        return None
    value = attributes.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or value == "":
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _values(attributes: Mapping[str, Any], name: str | None) -> list[str]:
    """Every value of an attribute, as text."""
    value = attributes.get(name) if name else None
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values if v not in ("", b"")]


@dataclass(frozen=True, slots=True)
class MailboxApplicant:
    """An entry applying for a new mailbox: what the directory gives of its owner."""

    dn: str
    may_apply: bool
    account: str | None
    student_id: str | None
    name_zh: str | None
    name_en: str | None
    notification_address: str | None


@dataclass
class _Preferred:
    index: int = 0


class LdapDirectory:
    """``Directory`` over an LDAP server, configured by the profile's ``[directory]``."""

    # Blocking ldap3 calls run here, a few at a time, never on the event loop.
    _executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ldap")

    def __init__(
        self,
        profile: Profile,
        *,
        pii: PiiHasher,
        bind_password: str | None,
        index: StudentIndex | None = None,
    ) -> None:
        self._profile = profile
        self._config: DirectoryConfig = profile.directory
        self._pii = pii
        self._bind_password = bind_password
        self._index = index
        self._uris = list(self._config.uris)
        # The server that answered last, shared with every step's view (``reading_index``).
        self._preferred = _Preferred()
        self._lock = threading.Lock()
        self._pool: queue.SimpleQueue[ldap3.Connection] = queue.SimpleQueue()
        self._max_age: dict[str, dt.timedelta | None] = {}

    # --- connections ---------------------------------------------------------------

    def _server(self, uri: str) -> ldap3.Server:
        tls = None
        if self._config.ca_file or uri.startswith("ldaps://") or self._config.start_tls:
            tls = ldap3.Tls(
                ca_certs_file=self._config.ca_file,
                validate=ssl.CERT_REQUIRED,
                version=ssl.PROTOCOL_TLS_CLIENT,
            )
        return ldap3.Server(
            uri, connect_timeout=self._config.timeout_seconds, get_info=ldap3.NONE, tls=tls
        )

    def _open(self, user: str | None, password: str | None) -> ldap3.Connection:
        """An open connection to the first server that answers (not yet bound).

        When none does and some answered but failed TLS (StartTLS or LDAPS), the reason
        says so: a ``ca_file`` that did not sign the server's certificate is no outage.
        """
        count = len(self._uris)
        tls_failures: list[str] = []
        for step in range(count):
            index = (self._preferred.index + step) % count
            # A new Server each time: ldap3 remembers an unreachable address and would
            # not try it again after the directory comes back.
            server = self._server(self._uris[index])
            connection = ldap3.Connection(
                server,
                user=user,
                password=password,
                auto_bind=ldap3.AUTO_BIND_NONE,
                receive_timeout=math.ceil(self._config.timeout_seconds),  # whole seconds
                raise_exceptions=False,
                read_only=False,
            )
            try:
                connection.open()
                if self._config.start_tls and not server.ssl and not connection.start_tls():
                    raise LDAPStartTLSError("StartTLS was not started")
            except (LDAPCommunicationError, LDAPStartTLSError, OSError) as exc:
                _close(connection)
                if isinstance(exc, _TLS_FAILURES):
                    how = "StartTLS" if not server.ssl else "LDAPS"
                    tls_failures.append(f"{self._uris[index]} ({how}): {_tls_reason(exc)}")
                continue
            self._preferred.index = index
            return connection
        if tls_failures:
            ca_file = self._config.ca_file or "(none: the system's CAs)"
            reason = (
                f"the TLS handshake or certificate check failed at {'; '.join(tls_failures)}; "
                f"is ca_file {ca_file} the CA that signed the server's certificate, "
                "for the host name in the URI?"
            )
            log.warning("directory unavailable: %s", reason)
            raise DirectoryUnavailable(reason)
        raise DirectoryUnavailable("no directory server answered")

    def _service(self) -> ldap3.Connection:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            pass
        bind_dn = self._config.bind_dn
        if bind_dn and not self._bind_password:
            # ldap3 would raise its own error for a simple bind with no password.
            reason = f"{BIND_PASSWORD_SETTING} is not set: the service binds as {bind_dn}"
            log.warning("directory unavailable: %s", reason)
            raise DirectoryUnavailable(reason)
        connection = self._open(bind_dn, self._bind_password)
        try:
            bound = connection.bind()
        except (LDAPException, OSError) as exc:
            _close(connection)
            reason = f"the service bind failed: {exc}"
            log.warning("directory unavailable: %s", reason)
            raise DirectoryUnavailable(reason) from None
        if not bound:
            _close(connection)
            result = connection.result
            # e.g. "invalidCredentials (49)": the result's name, as RFC 4511 gives it.
            reason = f"the service bind failed: {result['description']} ({result['result']})"
            log.warning("directory unavailable: %s (bind DN %s)", reason, bind_dn or "anonymous")
            raise DirectoryUnavailable(reason)
        return connection

    def _as_service(self, work: Callable[[ldap3.Connection], T]) -> T:
        """Run ``work`` on a pooled service connection; once more on a fresh one if it broke."""
        for attempt in range(2):
            connection = self._service()
            try:
                result = work(connection)
            except (LDAPCommunicationError, OSError) as exc:
                _close(connection)
                if attempt:
                    raise DirectoryUnavailable(str(exc)) from None
                continue
            except LDAPException as exc:
                _close(connection)
                raise DirectoryUnavailable(str(exc)) from None
            except DirectoryUnavailable:
                _close(connection)
                raise
            except HelpdeskError:
                self._pool.put(connection)  # the directory answered: still a good connection
                raise
            self._pool.put(connection)
            return result
        raise DirectoryUnavailable("unreachable")

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def close(self) -> None:
        """Unbind the pooled service connections."""
        await self._run(self._drain)

    def _drain(self) -> None:
        while True:
            try:
                _close(self._pool.get_nowait())
            except queue.Empty:
                return

    # --- reading -------------------------------------------------------------------

    def _attributes(self) -> list[str]:
        # The suspension's own attribute too (nsAccountLock, shadowExpire), or it never shows.
        names = [*self._config.attributes.model_dump().values(), self._config.suspension]
        if self._mailbox_parent() is not None:
            names.append(self._config.new_mailbox.owner_attribute)  # type: ignore[union-attr]
        wanted = [name for name in names if name] + _OPERATIONAL + ["createTimestamp"]
        return list(dict.fromkeys(wanted))

    def _search(self, search_filter: str) -> list[tuple[str, dict[str, Any]]]:
        return self._search_in(
            self._config.base_dn, search_filter, self._attributes(), size_limit=2
        )

    def _entry(self, dn: str) -> dict[str, Any]:
        def work(connection: ldap3.Connection) -> dict[str, Any]:
            connection.search(dn, "(objectClass=*)", ldap3.BASE, attributes=self._attributes())
            for entry in connection.response or []:
                if entry.get("type") == "searchResEntry":
                    return dict(entry["attributes"])
            if connection.result["result"] == 32:  # noSuchObject
                return {}
            raise LDAPCommunicationError(connection.result["description"])

        return self._as_service(work)

    def _account_filter(self, name: str) -> str:
        wanted = self._config.account_filter.format(name=escape_filter_chars(name))
        return f"(&{self._config.people_filter}{wanted})"

    @property
    def profile(self) -> Profile:
        return self._profile

    def reading_index(self, index: StudentIndex) -> LdapDirectory:
        """This directory, with the same servers and connection pool, whose student-ID
        lookups read ``index`` (a step's view: the index read in the step's session)."""
        view = copy.copy(self)
        view._index = index
        return view

    async def entries(self, *, since: dt.datetime | None) -> list[tuple[str, dict[str, Any]]]:
        """Every entry under the base (or those modified at or after ``since``), paged."""
        wanted = self._config.people_filter
        if since is not None:
            stamp = since.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ")
            wanted = f"(&{wanted}(modifyTimestamp>={stamp}))"
        return await self._run(self._paged, wanted, [*self._attributes(), "modifyTimestamp"])

    async def dns(self) -> list[str]:
        """The DN of every entry under the base (no attributes: cheap)."""
        found = await self._run(self._paged, self._config.people_filter, ["1.1"])
        return [dn for dn, _ in found]

    def _paged(self, search_filter: str, attributes: list[str]) -> list[tuple[str, dict[str, Any]]]:
        def work(connection: ldap3.Connection) -> list[tuple[str, dict[str, Any]]]:
            pages = connection.extend.standard.paged_search(
                self._config.base_dn,
                search_filter,
                attributes=attributes,
                paged_size=500,
                generator=False,
            )
            if connection.result["result"] not in (0, 32):
                raise LDAPCommunicationError(connection.result["description"])
            return [
                (entry["dn"], dict(entry.get("attributes", {})))
                for entry in pages or []
                if entry.get("type") == "searchResEntry"
            ]

        return self._as_service(work)

    find_student_ids = student_ids_found

    async def find_students(
        self, *, id_number_hash: str, birthday_hash: str, degree_level: str
    ) -> list[StudentMatch]:
        # The synced index holds each entry's status (the profile's status_values).
        if self._index is None:
            raise DirectoryUnavailable("no local index of the directory is configured")
        return await self._index.find_students(
            id_number_hash=id_number_hash, birthday_hash=birthday_hash, degree_level=degree_level
        )

    async def find_target(
        self, name: str, *, id_number_hash: str | None
    ) -> DirectoryAccount | None:
        found = await self._run(self._search, self._account_filter(name))
        # Hash whatever was found (or a stand-in) so a miss costs what a match costs.
        dn, attributes = found[0] if len(found) == 1 else ("", {})
        on_file = first(attributes, self._config.attributes.id_number)
        owned = id_number_hash is None or hmac.compare_digest(
            await self._owner_id_number(dn, on_file), id_number_hash
        )
        if not dn or not owned:
            return None
        return self._account(dn, attributes, address=is_address(name))

    async def _owner_id_number(self, dn: str, on_file: str | None) -> str:
        """The keyed hash of the ID number of ``dn``'s owner (a stand-in's when unknown).

        The entry's own attribute where it has one; otherwise the hash the application
        gave an alumni entry the bot wrote (which cannot carry the number), from the
        index. The index is asked either way, so every answer costs the same.
        """
        approved = await self._index.approved_id_number(dn) if self._index is not None else None
        computed = self._pii.id_number(on_file or "-")
        if on_file:
            return computed
        return approved or computed

    async def account(self, subject: str) -> DirectoryAccount | None:
        kind, _, dn = subject.partition(":")
        if kind not in (TargetKind.ACCOUNT, TargetKind.MAILBOX) or not dn:
            return None
        attributes = await self._run(self._entry, dn)
        if not attributes:
            return None
        return self._account(dn, attributes, address=kind == TargetKind.MAILBOX)

    def _account(
        self, dn: str, attributes: Mapping[str, Any], *, address: bool
    ) -> DirectoryAccount:
        names = self._config.attributes
        notification = first(attributes, names.notification_address)
        mail = first(attributes, names.mail)
        locked = bool(first(attributes, "pwdAccountLockedTime"))
        return DirectoryAccount(
            kind=TargetKind.MAILBOX if address else TargetKind.ACCOUNT,
            ref=dn,
            name=(mail if address else first(attributes, names.account)) or dn,
            owner=self._owner_of(dn, attributes),
            # Seed 002: a mailbox's link goes to the notification address on file.
            send_to=notification if address else (mail or notification),
            suspended=self._suspended(attributes),
            locked=locked,
        )

    def _suspended(self, attributes: Mapping[str, Any]) -> bool:
        how = self._config.suspension
        value = first(attributes, how)
        if value is None:
            return False
        if how == "pwdAccountLockedTime":
            return True
        if how == "nsAccountLock":
            return value.lower() == "true"
        if how == "shadowExpire":
            today = (dt.datetime.now(dt.UTC).date() - dt.date(1970, 1, 1)).days
            return 0 <= int(value) <= today
        return bool(int(value) & 0x2)  # userAccountControl: ACCOUNTDISABLE

    async def password_state(self, account: DirectoryAccount) -> PasswordState:
        return await self._run(self._password_state, account.ref)

    def _password_state(self, dn: str) -> PasswordState:
        attributes = self._entry(dn)
        changed = ldap_time(attributes.get("pwdChangedTime")) or ldap_time(
            attributes.get("createTimestamp")
        )
        policy = first(attributes, "pwdPolicySubentry") or self._config.password_policy_dn
        max_age = self._policy_max_age(policy) if policy else None
        return PasswordState(
            changed_at=changed,
            must_change=(first(attributes, "pwdReset") or "").upper() == "TRUE",
            expires_at=changed + max_age if changed and max_age else None,
            locked=bool(first(attributes, "pwdAccountLockedTime")),
        )

    def _policy_max_age(self, dn: str) -> dt.timedelta | None:
        if dn not in self._max_age:
            seconds = first(self._entry_of(dn, ["pwdMaxAge"]), "pwdMaxAge")
            self._max_age[dn] = dt.timedelta(seconds=int(seconds)) if seconds else None
        return self._max_age[dn]

    def _entry_of(self, dn: str, attributes: Sequence[str]) -> dict[str, Any]:
        def work(connection: ldap3.Connection) -> dict[str, Any]:
            connection.search(dn, "(objectClass=*)", ldap3.BASE, attributes=list(attributes))
            entries = [e for e in connection.response or [] if e.get("type") == "searchResEntry"]
            return dict(entries[0]["attributes"]) if entries else {}

        return self._as_service(work)

    async def personal_words(self, account: DirectoryAccount) -> list[str]:
        attributes = await self._run(self._entry, account.ref)
        names = self._config.attributes
        words: list[str] = [account.name]
        for name in (names.account, names.mail, names.student_id, names.name, names.name_en):
            value = attributes.get(name)
            words += [str(v) for v in value] if isinstance(value, list) else [str(value or "")]
        return [word for word in dict.fromkeys(words) if word]

    async def accounts_of(self, owner: str) -> list[DirectoryAccount]:
        # One entry is the person's account (and mailbox): the owner is its DN.
        attributes = await self._run(self._entry, owner)
        return [self._account(owner, attributes, address=False)] if attributes else []

    async def mailboxes_of(self, owner: str) -> list[DirectoryAccount]:
        # The entry's mail attribute is its mailbox (one a value); an entry without one has
        # none. Mailboxes applied for in chat may be entries of their own naming the owner.
        attributes = await self._run(self._entry, owner)
        found: list[DirectoryAccount] = []
        if attributes:
            entry = self._account(owner, attributes, address=True)
            found = [replace(entry, name=mail) for mail in _values(attributes, self._mail)]
        parent = self._mailbox_parent()
        if parent is not None and attributes:
            template = self._config.new_mailbox
            assert template is not None
            wanted = f"({template.owner_attribute}={escape_filter_chars(owner)})"
            for dn, own in await self._run(self._search_in, parent, wanted, self._attributes()):
                found.append(self._account(dn, own, address=True))
        return found

    @property
    def _mail(self) -> str:
        return self._config.attributes.mail

    def _mailbox_parent(self) -> str | None:
        """Where mailboxes applied for in chat get entries of their own, if they do."""
        template = self._config.new_mailbox
        return template.parent if template is not None else None

    def _owner_of(self, dn: str, attributes: Mapping[str, Any]) -> str:
        """The person an entry belongs to: a mailbox entry's owner, else the entry itself."""
        parent = self._mailbox_parent()
        if parent is not None and dn.lower().endswith("," + parent.lower()):
            template = self._config.new_mailbox
            assert template is not None
            return first(attributes, template.owner_attribute) or dn
        return dn

    def _search_in(
        self, base: str, search_filter: str, attributes: list[str], size_limit: int = 50
    ) -> list[tuple[str, dict[str, Any]]]:
        """The entries under ``base`` that match, at most ``size_limit`` of them."""

        def work(connection: ldap3.Connection) -> list[tuple[str, dict[str, Any]]]:
            ok = connection.search(
                base, search_filter, attributes=attributes, size_limit=size_limit
            )
            if not ok and connection.result["result"] not in (0, 4, 32):
                raise LDAPCommunicationError(connection.result["description"])
            return [
                (entry["dn"], dict(entry["attributes"]))
                for entry in connection.response or []
                if entry.get("type") == "searchResEntry"
            ]

        return self._as_service(work)

    # --- mailboxes applied for in chat (seed 004, [directory.new_mailbox]) ----------

    async def mailbox_applicant(self, owner: str) -> MailboxApplicant | None:
        """The facts of ``owner``'s entry a new mailbox is made from; None when it is gone.

        ``may_apply``: whether the entry matches the template's ``applicants`` filter.
        """
        template = self._config.new_mailbox
        if template is None:
            raise ConfigurationError("the profile's [directory.new_mailbox] is not set")
        attributes = await self._run(self._entry, owner)
        if not attributes:
            return None
        matching = await self._run(self._matches, owner, template.applicants)
        names = self._config.attributes
        name_zh, name_en = self._names(attributes)
        return MailboxApplicant(
            dn=owner,
            may_apply=matching,
            account=first(attributes, names.account),
            student_id=first(attributes, names.student_id),
            name_zh=name_zh,
            name_en=name_en,
            notification_address=first(attributes, names.notification_address),
        )

    def _names(self, attributes: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """The entry's Chinese and English names as the bot reads them.

        The name attribute (cn) often holds both, in either order: its first non-ASCII
        value is the Chinese name; the English one is name_en's, else its first ASCII value.
        """
        names = self._config.attributes
        values = _values(attributes, names.name)
        name_zh = next((v for v in values if not v.isascii()), None)
        name_en = first(attributes, names.name_en) or next((v for v in values if v.isascii()), None)
        return name_zh, name_en

    def _matches(self, dn: str, search_filter: str) -> bool:
        def work(connection: ldap3.Connection) -> bool:
            connection.search(dn, search_filter, ldap3.BASE, attributes=["1.1"])
            if connection.result["result"] not in (0, 32):
                raise LDAPCommunicationError(connection.result["description"])
            return any(e.get("type") == "searchResEntry" for e in connection.response or [])

        return self._as_service(work)

    async def taken_mailbox_names(self, names: Sequence[str], domain: str) -> set[str]:
        """Which of ``names`` are taken: an account of that name, or that address in
        ``domain``, among the people or the mailbox entries."""
        if not names:
            return set()
        account, mail = self._config.attributes.account, self._mail
        at = "@" + escape_filter_chars(domain)
        either = [
            f"({account}={name})({mail}={name}{at})"
            for name in (escape_filter_chars(name) for name in names)
        ]
        wanted = f"(|{''.join(either)})"
        bases = [self._config.base_dn, self._mailbox_parent()]
        taken: set[str] = set()
        for base in dict.fromkeys(b for b in bases if b):
            for _, attributes in await self._run(self._search_in, base, wanted, [account, mail]):
                accounts = {v.lower() for v in _values(attributes, account)}
                mails = {v.lower() for v in _values(attributes, mail)}
                suffix = "@" + domain.lower()
                taken |= {n for n in names if n in accounts or f"{n}{suffix}" in mails}
        return taken

    async def create_mailbox(self, facts: Mapping[str, str]) -> DirectoryAccount:
        """Write the mailbox ``[directory.new_mailbox]`` describes; the mailbox as written.

        A new entry has no password yet: its owner sets one through the mailed link, so
        nobody can log in to it before. Raises AccountExists when the name (or, added to
        the owner's entry, the address) is in the directory already.
        """
        template = self._config.new_mailbox
        if template is None:
            raise ConfigurationError("the profile's [directory.new_mailbox] is not set")
        attributes: dict[str, Any] = {
            name: value
            for name, pattern in template.attributes.items()
            if (value := pattern.format_map(facts))
        }
        if template.add_to == "owner":
            owner = facts["owner"]
            await self._run(self._add_to_entry, owner, attributes, template.object_classes)
            return replace(
                self._account(owner, {**attributes, self._mail: facts["address"]}, address=True),
                name=facts["address"],
                send_to=facts["notification_address"] or None,
            )
        assert template.dn is not None
        dn = template.dn.format_map({key: escape_rdn(value) for key, value in facts.items()})
        attributes["objectClass"] = list(template.object_classes)
        attributes[template.owner_attribute] = facts["owner"]
        await self._run(self._add_entry, dn, attributes)
        return self._account(dn, attributes, address=True)

    def _add_entry(self, dn: str, attributes: dict[str, Any]) -> None:
        def work(connection: ldap3.Connection) -> None:
            connection.add(dn, attributes=attributes)  # type: ignore[no-untyped-call]
            _raise_unless_done(connection, exists=ENTRY_ALREADY_EXISTS)

        self._as_service(work)

    def _add_to_entry(
        self, dn: str, attributes: dict[str, Any], object_classes: Sequence[str]
    ) -> None:
        def work(connection: ldap3.Connection) -> None:
            connection.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["objectClass"])
            entries = [e for e in connection.response or [] if e.get("type") == "searchResEntry"]
            if not entries:
                raise LDAPCommunicationError(f"no entry {dn}")
            has = {v.lower() for v in _values(entries[0]["attributes"], "objectClass")}
            changes: dict[str, list[tuple[str, list[str]]]] = {}
            missing = [c for c in object_classes if c.lower() not in has]
            if missing:
                changes["objectClass"] = [(ldap3.MODIFY_ADD, missing)]
            for name, value in attributes.items():
                changes[name] = [(ldap3.MODIFY_ADD, [value])]
            connection.modify(dn, changes)  # type: ignore[no-untyped-call]
            _raise_unless_done(connection, exists=ATTRIBUTE_OR_VALUE_EXISTS)

        self._as_service(work)

    async def set_notification_address(self, dn: str, address: str) -> None:
        """Send the notifications (password links) of the mailbox entry ``dn`` to ``address``."""
        name = self._config.attributes.notification_address
        changes = {name: [(ldap3.MODIFY_REPLACE, [address])]}
        await self._run(self._modify, dn, changes)

    def _modify(self, dn: str, changes: dict[str, Any]) -> None:
        def work(connection: ldap3.Connection) -> None:
            connection.modify(dn, changes)  # type: ignore[no-untyped-call]
            if connection.result["result"] != 0:
                raise LDAPCommunicationError(connection.result["description"])

        self._as_service(work)

    async def owner_by_address(self, address: str) -> str | None:
        names = self._config.attributes
        value = escape_filter_chars(address.strip())
        wanted = "".join(
            f"({name}={value})" for name in (names.mail, names.notification_address) if name
        )
        found = await self._run(self._search, f"(&{self._config.people_filter}(|{wanted}))")
        return found[0][0] if len(found) == 1 else None

    async def check(self, name: str) -> list[tuple[str, str, str | None]]:
        """For IT staff setting up: (fact, attribute, what it yields) for a named account.

        Binds as the service and finds ``name``; raises DirectoryUnavailable with the
        reason when either fails. The ID number and birthday are shown masked; the names
        are the values the bot uses (``_names``), not merely the attribute's first.
        """
        found = await self._run(self._search, self._account_filter(name))
        if len(found) != 1:
            raise DirectoryUnavailable(f"{len(found)} entries match {name!r}, not one")
        dn, attributes = found[0]
        name_zh, name_en = self._names(attributes)
        rows: list[tuple[str, str, str | None]] = [("dn", "-", dn)]
        for fact, attribute in self._config.attributes.model_dump().items():
            value = first(attributes, attribute) if attribute else None
            if fact == "name":
                value = name_zh
            elif fact == "name_en":
                value = name_en
            if value and fact in ("id_number", "birthday"):
                value = value[:2] + "*" * max(len(value) - 4, 0) + value[-2:]
            rows.append((fact, attribute or "-", value))
        rows.append(("suspended", self._config.suspension, str(self._suspended(attributes))))
        return rows

    # --- writing accounts ----------------------------------------------------------

    async def create_account(self, facts: Mapping[str, str], password: str) -> str:
        """Write the profile's ``new_entry`` for an approved application; return its DN.

        The first password is school-set (seed 003: the ID number), so where the profile
        forces a change of default passwords the entry carries pwdReset: changed at first use.
        """
        template = self._config.new_entry
        if template is None:
            raise ConfigurationError("the profile's [directory.new_entry] is not set")
        try:
            dn = template.dn.format_map({key: escape_rdn(value) for key, value in facts.items()})
            attributes: dict[str, Any] = {
                name: value
                for name, pattern in template.attributes.items()
                if (value := pattern.format_map(facts))
            }
        except KeyError as exc:
            raise ConfigurationError(f"[directory.new_entry] names an unknown fact {exc}") from None
        attributes["objectClass"] = list(template.object_classes)
        attributes["userPassword"] = password
        if self._profile.password_policy.force_change_default:
            # ppolicy marks a password an administrator resets, not one it adds with the entry.
            attributes["pwdReset"] = "TRUE"
        return await self._run(self._add, dn, attributes)

    def _add(self, dn: str, attributes: dict[str, Any]) -> str:
        def work(connection: ldap3.Connection) -> str:
            connection.add(dn, attributes=attributes)  # type: ignore[no-untyped-call]
            result = connection.result["result"]
            if result == ENTRY_ALREADY_EXISTS:
                raise AccountExists()
            if result == 19:  # constraintViolation: the directory's policy refused it
                code = _ppolicy_code(connection.result)
                refusal = PPOLICY_ERRORS.get(code) if code is not None else None
                raise PasswordRefused(refusal or Refusal.QUALITY, self._profile.password_policy)
            if result != 0:
                raise LDAPCommunicationError(connection.result["description"])
            return dn

        return self._as_service(work)

    # --- passwords -----------------------------------------------------------------

    async def verify_password(self, account: DirectoryAccount, password: str) -> bool:
        return await self._run(self._verify, account.ref, password)

    def _bind_as(self, dn: str, password: str) -> tuple[ldap3.Connection | None, int | None]:
        """A connection bound as the user (None when the password is wrong) and any
        ppolicy error the bind carried."""
        if not password:
            return None, None  # an empty password would be an anonymous bind
        connection = self._open(dn, password)
        try:
            ok = connection.bind(controls=[(PPOLICY_OID, False, None)])
        except (LDAPCommunicationError, OSError) as exc:
            _close(connection)
            raise DirectoryUnavailable(str(exc)) from None
        code = _ppolicy_code(connection.result)
        if code == ACCOUNT_LOCKED:
            _close(connection)
            raise AccountLocked()
        if not ok:
            result = connection.result["result"]
            _close(connection)
            if result == INVALID_CREDENTIALS:
                return None, code
            raise DirectoryUnavailable(f"bind failed: {connection.result['description']}")
        return connection, code

    def _verify(self, dn: str, password: str) -> bool:
        connection, _ = self._bind_as(dn, password)
        if connection is None:
            return False
        _close(connection)
        return True

    async def change_password(
        self, account: DirectoryAccount, current_password: str, new_password: str
    ) -> None:
        await self._run(self._change, account.ref, current_password, new_password)

    def _change(self, dn: str, current: str, new: str) -> None:
        connection, _ = self._bind_as(dn, current)
        if connection is None:
            raise WrongPassword()
        try:
            self._modify_password(connection, None, current, new)
        finally:
            _close(connection)

    async def reset_password(self, account: DirectoryAccount, new_password: str) -> None:
        await self._run(self._reset, account.ref, new_password)

    def _reset(self, dn: str, new: str) -> None:
        def work(connection: ldap3.Connection) -> None:
            self._modify_password(connection, dn, None, new)
            # The user chose this password through a proven link: it is not a school-set
            # one, so the change ppolicy demands after an administrator's reset is lifted.
            connection.modify(dn, {"pwdReset": [(ldap3.MODIFY_DELETE, [])]})  # type: ignore[no-untyped-call]

        self._as_service(work)

    def _modify_password(
        self, connection: ldap3.Connection, dn: str | None, old: str | None, new: str
    ) -> None:
        try:
            connection.extend.standard.modify_password(
                user=dn, old_password=old, new_password=new, controls=[(PPOLICY_OID, False, None)]
            )
        except (LDAPCommunicationError, OSError) as exc:
            raise DirectoryUnavailable(str(exc)) from None
        result = connection.result
        if result["result"] == 0:
            return
        code = _ppolicy_code(result)
        if code == ACCOUNT_LOCKED:
            raise AccountLocked()
        refusal = PPOLICY_ERRORS.get(code) if code is not None else None
        if refusal is not None:
            raise PasswordRefused(refusal, self._profile.password_policy)
        if result["result"] == 19:  # constraintViolation without a ppolicy control
            raise PasswordRefused(Refusal.QUALITY, self._profile.password_policy)
        raise DirectoryUnavailable(f"password modify failed: {result['description']}")


def _tls_reason(exc: BaseException) -> str:
    """What ldap3's TLS error says, without its wrapping ("wrap socket error: [SSL: ...]")."""
    message: object = exc.args[0] if exc.args else exc
    if isinstance(message, tuple) and message:  # LDAPSocketOpenError wraps its text once more
        message = message[0]
    text = re.sub(r"^.*?(wrap socket|wrapping) error: ", "", str(message))
    text = re.sub(r"^\[SSL: [A-Z_]+\] ", "", text)
    return re.sub(r" \(_ssl\.c:\d+\)$", "", text).strip() or type(exc).__name__


def _close(connection: ldap3.Connection) -> None:
    """Close a connection whatever state it is in (a failed open leaves a socket)."""
    with contextlib.suppress(LDAPException, OSError):
        connection.unbind()
    socket = getattr(connection, "socket", None)
    if socket is not None:
        socket.close()


def _raise_unless_done(connection: ldap3.Connection, *, exists: int) -> None:
    """After an add or modify: AccountExists on the result ``exists``, else any failure."""
    result = connection.result["result"]
    if result == exists:
        raise AccountExists()
    if result != 0:
        raise LDAPCommunicationError(connection.result["description"])
