"""Institution profiles: each university's facts and policies as a data file.

A profile is a TOML file in ``core/profiles/`` (or any path). Every fact in it comes
from the institution's own help pages; the file says which.
"""

from __future__ import annotations

import datetime as dt
import re
import string
import tomllib
from functools import cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator

from core.errors import ProfileError
from core.localized import LocalizedText
from core.localized import Strict as _Strict
from core.password_policy import PasswordPolicy
from core.resources import profiles_dir

LOCALES = ("zh_TW", "en")
Office = Literal["registration", "helpdesk", "alumni_centre"]


class DegreeLevel(_Strict):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name: LocalizedText
    synonyms: list[str] = Field(
        default_factory=list, description="Other words people type for it (both languages)."
    )


class Accounts(_Strict):
    student_id_pattern: str
    alumni_account: str | None = Field(
        default=None, description="Alumni account from the student ID, e.g. B{student_id}00."
    )
    campus_mail: str | None = Field(default=None, description="e.g. a{student_id}@grad.ntue.edu.tw")
    mail_domain: str
    portal_name: LocalizedText
    portal_url: str
    first_login_password: LocalizedText | None = None

    @field_validator("student_id_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value

    @field_validator("alumni_account", "campus_mail")
    @classmethod
    def _has_student_id(cls, value: str | None) -> str | None:
        if value is not None and "{student_id}" not in value:
            raise ValueError("must contain {student_id}")
        return value

    def campus_mail_for(self, student_id: str) -> str | None:
        return self.campus_mail.format(student_id=student_id) if self.campus_mail else None

    def alumni_account_for(self, student_id: str) -> str | None:
        return self.alumni_account.format(student_id=student_id) if self.alumni_account else None


class Guidance(_Strict):
    """What a student ID lookup tells one group of people after their student ID."""

    account: Literal["student_id", "alumni_account"] = Field(
        default="student_id", description="What they log in with."
    )
    portal_name: LocalizedText | None = None
    portal_url: str | None = None
    first_login_password: LocalizedText | None = None
    ask: Office | None = Field(
        default=None, description="An office to contact about what the seed leaves open."
    )


LookupGroup = Literal["student", "resident_student", "alumnus"]


class Lookup(_Strict):
    """The lookup's answer per group; a group left out gets the next one's.

    ``student``: enrolled (or suspended, returning) students; left out, the
    ``[accounts]`` portal and first-login password. ``resident_student``: students whose
    ID number is a resident certificate's (NTUE's 境外新生, seed 001); left out,
    ``student``'s. ``alumnus``: a graduated record; left out, ``student``'s.
    """

    student: Guidance | None = None
    resident_student: Guidance | None = None
    alumnus: Guidance | None = None


class Lifetimes(_Strict):
    reset_link_minutes: int = Field(default=15, ge=1, le=24 * 60)
    link_code_minutes: int = Field(default=10, ge=1, le=60)
    link_code_attempts: int = Field(default=5, ge=1, le=20)
    conversation_timeout_minutes: int = Field(default=10, ge=1, le=24 * 60)


class Mail(_Strict):
    takes_effect_minutes: int = Field(default=0, ge=0, le=24 * 60)
    default_quota_kb: int = Field(default=62914560, ge=0)
    # Seed 004: a new mailbox is for staff in "normal" condition and students enrolled
    # or returning (教職員工的狀態須為「一般」，學生須為「校、復」).
    application_statuses: list[str] = Field(default_factory=lambda: ["enrolled", "returning"])
    staff_may_apply: bool = True
    # Whether setting a new password lifts an administrator's suspension (the demo's mail
    # terms: "the owner must read the notice and set a new password before using it
    # again"); otherwise the administrators lift it and the page says so.
    reset_lifts_suspension: bool = False
    usage_policy: LocalizedText | None = None
    terms: LocalizedText | None = None


class Card(_Strict):
    refresh_seconds: int = Field(default=300, ge=30, le=3600)
    open_minutes: int = Field(default=15, ge=1, le=24 * 60)
    fee: int | None = Field(
        default=None,
        ge=0,
        description="What an electronic card costs, NT$ (0: free); unset where the seed is silent.",
    )


class Chat(_Strict):
    """What the institution trusts of chat platforms."""

    slack_trusted_teams: list[str] = Field(
        default_factory=list,
        description="Slack workspaces (team ids) whose confirmed e-mails link without a code.",
    )


class Contact(_Strict):
    """How to reach one office: its name, phone, hours and page, as its help pages give them."""

    name: LocalizedText
    phone: str | None = None
    hours: LocalizedText | None = None
    url: str | None = None
    note: LocalizedText | None = Field(
        default=None, description="Anything else the office's pages say about reaching it."
    )


class Handoff(_Strict):
    """Where cases for a person at the help desk go, and when someone is there."""

    slack_channel: str | None = Field(
        default=None, description="Staff Slack channel id (C...) that receives cases."
    )
    telegram_group: int | None = Field(
        default=None, description="Staff Telegram group's chat id (negative) that receives cases."
    )
    mail_to: str | None = Field(
        default=None, description="The help desk's address (often a ticket system's inbox)."
    )
    office_days: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5], description="ISO weekdays: 1 is Monday."
    )
    office_opens: dt.time = dt.time(9, 0)
    office_closes: dt.time = dt.time(17, 0)
    idle_close_minutes: int = Field(default=120, ge=5, le=14 * 24 * 60)
    cases_per_chat_per_day: int = Field(default=3, ge=1, le=50)
    messages_per_minute: int = Field(default=6, ge=1, le=60)

    @model_validator(mode="after")
    def _opens_before_closing(self) -> Handoff:
        if self.office_opens >= self.office_closes:
            raise ValueError("office_opens must be before office_closes")
        return self


class Limits(_Strict):
    """Brute-force limits (Taiwan's baseline: lock 15 minutes after 5 failures)."""

    failures_per_user: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=15)
    lookups_per_id_per_day: int = Field(default=10, ge=1)
    lookups_global_per_minute: int = Field(default=600, ge=1)


class Retention(_Strict):
    """How long personal data is kept (Taiwan's PDPA: only for the stated purpose and period).

    ``core.retention`` applies these; the README says why each default is what it is.
    """

    audit_events_days: int = Field(default=365, ge=30)
    processed_deliveries_hours: int = Field(default=24, ge=24)
    conversations_days: int = Field(default=30, ge=1)
    sent_mail_days: int = Field(default=30, ge=1)
    expired_codes_days: int = Field(default=7, ge=1)
    decided_applications_days: int = Field(default=180, ge=30)
    closed_cases_days: int = Field(default=180, ge=30)


class DirectoryAttributes(_Strict):
    """Which directory attribute holds each fact (LDAP and AD backends)."""

    account: str = "uid"
    mail: str = "mail"
    student_id: str = "employeeNumber"
    id_number: str = Field(default="campusIdNumber", description="National ID, clear text.")
    birthday: str = Field(default="campusBirthday", description="YYYY-MM-DD or YYYYMMDD.")
    degree_level: str = "campusDegreeLevel"
    department: str = "departmentNumber"
    status: str = "campusStatus"
    name: str = "cn"
    name_en: str = "displayName"
    notification_address: str = "campusNotificationAddress"
    quota_kb: str | None = None


class NewEntry(_Strict):
    """The entry an approved application writes: DN, object classes, attributes.

    Values are templates over the application's facts: {account}, {student_id},
    {name_zh}, {name_en}, {surname}, {mail}, {notification_address}, {id_number},
    {birthday}, {degree_level}.
    """

    dn: str = Field(description="e.g. uid={account},ou=alumni,dc=example,dc=edu,dc=tw")
    object_classes: list[str] = Field(min_length=1)
    attributes: dict[str, str] = Field(default_factory=dict)

    @field_validator("dn")
    @classmethod
    def _names_the_account(cls, value: str) -> str:
        if "{" not in value:
            raise ValueError("the DN template must name the entry, e.g. uid={account},...")
        return value


# What a [directory.new_mailbox] template may name: the chosen mailbox and facts of its
# owner's entry. Never the ID number or birthday: a mailbox entry has no use for them.
MAILBOX_FACTS = (
    "mailbox",  # the chosen name, e.g. ming-zhi.lin
    "address",  # the chosen name in the institution's domain
    "owner",  # the applicant's entry (its DN)
    "account",  # the applicant's account name
    "student_id",  # the applicant's student ID or employee number, as the directory has it
    "name_zh",
    "name_en",
    "surname",
    "given_name",
    "notification_address",  # where the new mailbox's password link goes
    "quota_kb",  # [mail] default_quota_kb
)


def _template_fields(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


class NewMailbox(_Strict):
    """A mailbox applied for in chat on an LDAP or AD directory (seed 004).

    ``add_to = "new_entry"`` writes its own entry at ``dn`` (seed 004: "Created new LDAP
    account", a mail account with a password of its own, apart from the owner's login)
    naming its owner in ``owner_attribute``; ``"owner"`` adds ``attributes`` (and any
    missing ``object_classes``) to the applicant's own entry, where the mailbox shares the
    account's password. Values are templates over ``MAILBOX_FACTS``.
    """

    applicants: str = Field(
        description="LDAP filter the applicant's own entry must match (who may apply), e.g."
        " (|(campusRole=staff)(campusStatus=在學)(campusStatus=復學))."
    )
    add_to: Literal["new_entry", "owner"] = "new_entry"
    dn: str | None = Field(
        default=None, description="e.g. uid={mailbox},ou=mail,dc=example,dc=edu,dc=tw"
    )
    object_classes: list[str] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)
    owner_attribute: str = Field(
        default="seeAlso", description="The new entry's attribute naming its owner's DN."
    )

    @field_validator("applicants")
    @classmethod
    def _a_filter(cls, value: str) -> str:
        value = value.strip()
        if not (value.startswith("(") and value.endswith(")")):
            raise ValueError("applicants must be an LDAP filter in parentheses")
        return value

    @model_validator(mode="after")
    def _complete(self) -> NewMailbox:
        templates = [self.dn or "", *self.attributes.values()]
        unknown = set().union(*(_template_fields(t) for t in templates)) - set(MAILBOX_FACTS)
        if unknown:
            raise ValueError(
                f"names {', '.join(sorted(unknown))}; a mailbox template may name only "
                + ", ".join("{" + fact + "}" for fact in MAILBOX_FACTS)
            )
        if self.add_to == "new_entry":
            if not self.dn or not self.object_classes:
                raise ValueError('add_to = "new_entry" needs dn and object_classes')
            rdn, comma, parent = self.dn.partition(",")
            if "{" not in rdn or not comma or "{" in parent:
                raise ValueError(
                    "the DN template names the mailbox in its first part only, e.g."
                    " uid={mailbox},ou=mail,..."
                )
        elif not self.attributes:
            raise ValueError('add_to = "owner" needs the attributes to add, e.g. mail')
        return self

    @property
    def parent(self) -> str | None:
        """Where new mailbox entries live (the DN template's fixed part)."""
        return self.dn.partition(",")[2] if self.add_to == "new_entry" and self.dn else None


class DirectoryConfig(_Strict):
    """Where accounts and passwords live: the bot's own tables, OpenLDAP or Active Directory."""

    backend: Literal["sql", "ldap", "ad"] = "sql"
    uris: list[str] = Field(default_factory=list, description="Tried in order (failover).")
    base_dn: str = ""
    people_filter: str = "(objectClass=inetOrgPerson)"
    account_filter: str = Field(
        default="(|(uid={name})(mail={name}))", description="{name}: the escaped account name."
    )
    bind_dn: str | None = Field(
        default=None, description="Service account; HELPDESK_DIRECTORY_BIND_PASSWORD its password."
    )
    start_tls: bool = False
    ca_file: str | None = None
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    attributes: DirectoryAttributes = DirectoryAttributes()
    suspension: Literal[
        "pwdAccountLockedTime", "nsAccountLock", "shadowExpire", "userAccountControl"
    ] = "pwdAccountLockedTime"
    password_policy_dn: str | None = Field(
        default=None, description="The ppolicy entry whose pwdMaxAge applies (OpenLDAP)."
    )
    max_failures: int | None = Field(
        default=None, ge=1, description="The directory's lockout threshold (pwdMaxFailure)."
    )
    status_values: dict[
        str, Literal["enrolled", "suspended", "returning", "graduated", "withdrawn"]
    ] = Field(
        default_factory=dict,
        description="The status attribute's values as enrolment statuses (e.g. 畢業 = graduated);"
        " a value not listed counts as the status it names, if any.",
    )
    applications: Literal["write", "queue"] = Field(
        default="queue", description="Write new accounts to the directory, or queue them for staff."
    )
    new_entry: NewEntry | None = Field(
        default=None, description="What a written account looks like (applications = write)."
    )
    new_mailbox: NewMailbox | None = Field(
        default=None,
        description="Mailboxes applied for in chat: who may, and what is written or queued;"
        " unset, the chat sends applicants to the help desk.",
    )

    @model_validator(mode="after")
    def _reachable(self) -> DirectoryConfig:
        if self.backend != "sql" and not (self.uris and self.base_dn):
            raise ValueError("an LDAP or AD directory needs uris and base_dn")
        if "{name}" not in self.account_filter:
            raise ValueError("account_filter must contain {name}")
        if self.applications == "write" and self.backend != "sql" and self.new_entry is None:
            raise ValueError("applications = write needs [directory.new_entry]")
        mailbox = self.new_mailbox
        if (
            self.backend == "ad"
            and self.applications == "write"
            and mailbox is not None
            and mailbox.add_to == "new_entry"
        ):
            # A new AD user is created disabled until a password is set and it is enabled.
            raise ValueError(
                'on Active Directory a mailbox is written into the owner\'s user (add_to = "owner")'
            )
        return self


class Profile(_Strict):
    """One institution: names, account formats, password policy, lifetimes, limits."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
    display_name: LocalizedText
    timezone: str = "Asia/Taipei"
    sources: list[str] = Field(default_factory=list, description="Seed documents used.")
    degree_levels: list[DegreeLevel] = Field(min_length=1)
    accounts: Accounts
    password_policy: PasswordPolicy
    lifetimes: Lifetimes = Lifetimes()
    mail: Mail = Mail()
    card: Card = Card()
    limits: Limits = Limits()
    retention: Retention = Retention()
    chat: Chat = Chat()
    lookup: Lookup = Lookup()
    contacts: dict[Office, Contact] = Field(
        default_factory=dict, description="Offices a reply may send the user to."
    )
    directory: DirectoryConfig = DirectoryConfig()
    handoff: Handoff = Handoff()

    @model_validator(mode="after")
    def _never_locks_the_real_account(self) -> Profile:
        # Wrong current passwords typed through the bot are binds against the directory:
        # the bot must stop first, so no user is locked out of the real account by it.
        limit = self.directory.max_failures
        if limit is not None and self.limits.failures_per_user >= limit:
            raise _FieldError(
                "limits.failures_per_user",
                f"{self.limits.failures_per_user} must stay below directory.max_failures "
                f"({limit}, the directory's pwdMaxFailure): lower [limits] failures_per_user, "
                "or set [directory] max_failures to your password policy's pwdMaxFailure",
            )
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def degree_level(self, code: str) -> DegreeLevel | None:
        return next((level for level in self.degree_levels if level.code == code), None)

    def guidance(self, group: LookupGroup) -> Guidance:
        """What the lookup tells ``group``, falling back as ``Lookup`` describes."""
        lookup = self.lookup
        student = lookup.student or Guidance(
            portal_name=self.accounts.portal_name,
            portal_url=self.accounts.portal_url,
            first_login_password=self.accounts.first_login_password,
        )
        if group == "resident_student":
            return lookup.resident_student or student
        if group == "alumnus":
            return lookup.alumnus or student
        return student


class _FieldError(ValueError):
    """A refusal by a rule of the whole profile that names the one field to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def available_profiles() -> list[str]:
    return sorted(path.stem for path in profiles_dir().glob("*.toml"))


def _resolve(name_or_path: str) -> Path:
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return Path(name_or_path)
    return profiles_dir() / f"{name_or_path}.toml"


def load_profile_file(path: Path) -> Profile:
    """Read and validate one profile; a bad field raises ProfileError naming it."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(str(path), "-", "no such profile file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(str(path), "-", f"not valid TOML: {exc}") from None
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        cause = first.get("ctx", {}).get("error")
        if not field and isinstance(cause, _FieldError):
            field = cause.field  # a rule over two sections names the field to change
        message = first["msg"].removeprefix("Value error, ")
        raise ProfileError(str(path), field or "-", message) from None


@cache
def load_profile(name_or_path: str) -> Profile:
    """Load a shipped profile by name (``ntue``) or any profile file by path."""
    return load_profile_file(_resolve(name_or_path))
