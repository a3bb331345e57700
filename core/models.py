"""The database schema: SQLAlchemy 2 typed models, one metadata for Alembic.

ID numbers and birthdays are kept only as keyed hashes (``core.pii``); nothing here
stores them in clear.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Role(StrEnum):
    STUDENT = "student"
    STAFF = "staff"
    ALUMNUS = "alumnus"


class RecordStatus(StrEnum):
    ENROLLED = "enrolled"
    SUSPENDED = "suspended"  # 休學
    RETURNING = "returning"  # 復學
    GRADUATED = "graduated"
    WITHDRAWN = "withdrawn"


class MailboxCondition(StrEnum):
    NORMAL = "normal"
    SUSPENDED = "suspended"
    PENDING = "pending"
    DISABLED = "disabled"


class CardStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    REVOKED = "revoked"


class MailStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class Person(Base):
    """Someone in the institution's directory."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    id_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    birthday_hash: Mapped[str] = mapped_column(String(64))
    id_number_masked: Mapped[str] = mapped_column(String(16))
    notification_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime]

    records: Mapped[list[StudentRecord]] = relationship(back_populates="person")
    accounts: Mapped[list[Account]] = relationship(back_populates="person")
    mailboxes: Mapped[list[Mailbox]] = relationship(back_populates="person")


class StudentRecord(Base):
    """One enrolment: a student ID in a degree level."""

    __tablename__ = "student_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    student_id: Mapped[str] = mapped_column(String(32), unique=True)
    degree_level: Mapped[str] = mapped_column(String(32))
    department: Mapped[str] = mapped_column(String(100))
    entry_year: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))

    person: Mapped[Person] = relationship(back_populates="records")


class Account(Base):
    """A login: portal account, alumni account or staff account."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    password_changed_at: Mapped[dt.datetime]
    must_change: Mapped[bool] = mapped_column(default=False)
    # When the owner was last reminded in chat that the password expires (core.notices).
    expiry_reminded_at: Mapped[dt.datetime | None]

    person: Mapped[Person] = relationship(back_populates="accounts")
    history: Mapped[list[PasswordHistory]] = relationship(
        back_populates="account", order_by="PasswordHistory.created_at.desc()"
    )


class PasswordHistory(Base):
    """Earlier password hashes, for 'not one of the last N'."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]

    account: Mapped[Account] = relationship(back_populates="history")


class Mailbox(Base):
    """A campus mailbox and its condition (seeds 002, 004)."""

    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(254), unique=True)
    condition: Mapped[str] = mapped_column(String(16))
    suspended_reason: Mapped[str | None] = mapped_column(Text)
    suspended_at: Mapped[dt.datetime | None]
    suspension_notice: Mapped[str | None] = mapped_column(Text)
    quota_used_kb: Mapped[int] = mapped_column(default=0)
    quota_limit_kb: Mapped[int]
    notification_address: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_changed_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]

    person: Mapped[Person] = relationship(back_populates="mailboxes")


class AlumniCard(Base):
    """A digital alumni card (seed 003); its code secret is encrypted at rest."""

    __tablename__ = "alumni_cards"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    card_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    valid_until: Mapped[dt.date | None]
    last_accepted_step: Mapped[int] = mapped_column(default=0)
    # Within last_accepted_step, the refresh accepted last ("Refresh now" after a scan).
    last_accepted_refresh: Mapped[int] = mapped_column(default=0)
    applied_at: Mapped[dt.datetime]
    decided_at: Mapped[dt.datetime | None]


class ChatIdentity(Base):
    """A chat user on one platform; linked to a person once proven."""

    __tablename__ = "chat_identities"
    __table_args__ = (UniqueConstraint("channel", "platform_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    platform_user_id: Mapped[str] = mapped_column(String(128))
    # The language the user chats in: the platform's hint, remembered, unless they chose
    # one with /language (``locale_chosen``), which no hint overrides. Notices use it.
    locale: Mapped[str | None] = mapped_column(String(8))
    locale_chosen: Mapped[bool] = mapped_column(default=False, server_default=false())
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    # Linked to a person of an LDAP or AD directory, who has no row in ``people``: the
    # directory's name for them (``DirectoryAccount.owner``, the entry's DN). A chat is
    # linked through one of the two, never both (``core.directory.chats``).
    directory_owner: Mapped[str | None] = mapped_column(String(512))
    linked_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]

    @property
    def linked(self) -> bool:
        """Whether this chat speaks for a person of the directory, whichever holds them."""
        return self.person_id is not None or self.directory_owner is not None


class ConversationState(Base):
    """Where one chat stands in its flow; versioned, locked per step."""

    __tablename__ = "conversation_states"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    flow: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    nonce: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime]


class ProcessedDelivery(Base):
    """A platform delivery already handled, so a redelivery is skipped."""

    __tablename__ = "processed_deliveries"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(index=True)


class OneTimeToken(Base):
    """A one-time link or code; only its hash is stored."""

    __tablename__ = "one_time_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]


class RateLimitCounter(Base):
    """A counter whose window opens at its first hit; shared by every worker."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    window_start: Mapped[dt.datetime]
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class AuditEvent(Base):
    """Who did what, through which channel and flow, with what outcome; no secrets."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime]
    channel: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    flow: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OutboundMail(Base):
    """A mail to send, claimed by one worker at a time."""

    __tablename__ = "outbound_mail"
    __table_args__ = (Index("ix_outbound_mail_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=MailStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]


class ChatNotice(Base):
    """A message for a chat outside any turn (e.g. 'your password was changed').

    Written in the same transaction as what it reports; each adapter delivers the
    notices of its channel and marks them delivered.
    """

    __tablename__ = "chat_notices"
    __table_args__ = (Index("ix_chat_notices_pending", "channel", "delivered_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    delivered_at: Mapped[dt.datetime | None]


class CardView(Base):
    """An alumni card open in a chat; its QR image is refreshed in place until it closes.

    Due refreshes are rows, claimed with FOR UPDATE SKIP LOCKED, so with several workers
    each happens once.
    """

    __tablename__ = "card_views"
    __table_args__ = (Index("ix_card_views_due", "closed_at", "next_refresh_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("alumni_cards.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(128))
    locale: Mapped[str] = mapped_column(String(8))
    opened_at: Mapped[dt.datetime]
    closes_at: Mapped[dt.datetime]
    next_refresh_at: Mapped[dt.datetime]
    refreshes: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[dt.datetime | None]


class PlatformMessage(Base):
    """Which platform message shows a keyed reply (an alumni card), for edits in place."""

    __tablename__ = "platform_messages"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime]


class MediaFile(Base):
    """An image a platform fetches by URL (LINE), kept only until its content expires.

    The URL holds a random token; only its SHA-256 is stored.
    """

    __tablename__ = "media_files"
    __table_args__ = (Index("ix_media_files_expires_at", "expires_at"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime]


class ApplicationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class AlumniApplication(Base):
    """An application for an alumni account (seed 003), pending staff review.

    The ID number and birthday are kept as keyed hashes like the directory's; the
    default first-login password (the ID number, seed 003) only as its argon2 hash.
    """

    __tablename__ = "alumni_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(128))
    locale: Mapped[str] = mapped_column(String(8))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(200))
    sex: Mapped[str] = mapped_column(String(8))
    id_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str] = mapped_column(String(16))
    birthday_hash: Mapped[str] = mapped_column(String(64))
    default_password_hash: Mapped[str] = mapped_column(String(200))
    degree_level: Mapped[str] = mapped_column(String(32))
    department: Mapped[str] = mapped_column(String(100))
    student_id: Mapped[str] = mapped_column(String(32))
    entry_year: Mapped[int]
    graduation_year: Mapped[int]
    mobile: Mapped[str] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(300))
    consent_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16), default=ApplicationStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(String(500))
    account: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    decided_at: Mapped[dt.datetime | None]


class IndexSource(StrEnum):
    """Where a ``directory_index`` row's hashes come from."""

    SYNC = "sync"  # the entry's own ID number and birthday attributes
    APPROVAL = "approval"  # an approved alumni application (the entry cannot hold them)


class DirectoryIndexEntry(Base):
    """An LDAP entry's lookup keys, synced by ``core.directory.sync``.

    Lookups by ID number and birthday read this table, not the directory: the directory
    cannot be searched by our keyed hashes, and a search by the clear number would put
    it in the directory server's logs.
    """

    __tablename__ = "directory_index"

    dn: Mapped[str] = mapped_column(String(512), primary_key=True)
    id_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    birthday_hash: Mapped[str] = mapped_column(String(64))
    student_id: Mapped[str | None] = mapped_column(String(32))
    degree_level: Mapped[str | None] = mapped_column(String(32))
    # A RecordStatus value mapped from the directory's own (profile: status_values);
    # None where the entry does not say. "graduated" makes the lookup's answer the alumni one.
    status: Mapped[str | None] = mapped_column(String(16))
    modified_at: Mapped[dt.datetime]
    synced_at: Mapped[dt.datetime]
    # IndexSource: "sync" (read from the entry's attributes) or "approval" (an alumni
    # entry the bot wrote, which cannot carry the ID number: its hashes come from the
    # application, and the sync keeps the row while the entry exists).
    source: Mapped[str] = mapped_column(String(16), default="sync", server_default="sync")


class WorkerHeartbeat(Base):
    """When a background job (the mail queue, retention) last finished a round, per job.

    ``/readyz`` reads it: a worker that stopped sending mail is seen, whichever process
    it ran in.
    """

    __tablename__ = "worker_heartbeats"

    job: Mapped[str] = mapped_column(String(32), primary_key=True)
    seen_at: Mapped[dt.datetime]


class CaseStatus(StrEnum):
    OPEN = "open"  # waiting for a member of staff
    CLAIMED = "claimed"  # someone at the help desk has taken it
    CLOSED = "closed"


class Case(Base):
    """A chat handed over to a person at the help desk (issue 21 §2).

    ``actor`` is the chat user's pseudonym; ``channel`` and ``chat_id`` say where
    staff replies go and are never shown to staff. ``question`` and ``context`` hold
    only scrubbed text (``core.cases.scrub``) and flow steps, never an ID number.
    ``staff_posts`` maps a staff desk (``slack``, ``telegram``) to where the case was
    posted there (channel and message), so replies in that thread find the case.
    """

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_chat", "channel", "chat_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(128))
    actor: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    account: Mapped[str | None] = mapped_column(String(128))
    locale: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.OPEN, index=True)
    question: Mapped[str] = mapped_column(Text)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    staff_posts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opened_at: Mapped[dt.datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[dt.datetime | None]
    first_answer_at: Mapped[dt.datetime | None]
    last_activity_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(128))
    rating: Mapped[int | None]


class CaseMessage(Base):
    """One message of a case: from the user, or from staff on a desk (or the CLI).

    ``posted`` records, per staff desk, when the message reached that desk's thread
    (a staff message counts as posted on the desk it came from).
    """

    __tablename__ = "case_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # user | slack | telegram | cli
    author: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    posted: Mapped[dict[str, Any]] = mapped_column(default=dict)
