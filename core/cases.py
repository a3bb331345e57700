"""Cases: a chat handed over to a person at the help desk, from opening to rating.

A case holds what the user asked and the flow steps that led there (scrubbed: no ID
numbers, birthdays, codes, links or passwords), the chat's language and channel. Staff
answers become chat notices for the user's own platform; the user's messages are
``CaseMessage`` rows that each staff desk posts to its thread (``bot.staffdesk``).
Closing (by staff, by the user, or after the profile's idle time) tells the user and
asks for a rating from 1 to 5. Every change writes an audit event.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import audit
from core.i18n import Translator
from core.mail import enqueue
from core.models import AuditEvent, Case, CaseMessage, CaseStatus, ChatNotice, ConversationState
from core.profiles import Handoff, Profile

FLOW = "handoff"
# The flow and state a chat is put in when its case closes, to take the rating.
RATING_FLOW, RATING_STATE = "handoff_end", "rate"
RATINGS = range(1, 6)
MAX_MESSAGE = 2000  # characters of one relayed message; more is cut
CONTEXT_STEPS = 6  # the chat's last audited steps a case carries
CONTEXT_WINDOW = dt.timedelta(minutes=30)

CASES_OPENED = Counter("helpdesk_cases_opened", "Cases handed over to the help desk.")
CASES_ANSWERED = Counter("helpdesk_cases_answered", "Cases that got a first staff answer.")
FIRST_ANSWER_SECONDS = Histogram(
    "helpdesk_case_first_answer_seconds",
    "Time from opening a case to its first staff answer.",
    buckets=(60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 72 * 3600),
)

# What must never reach staff or a mail: ID numbers (national, resident certificate old
# and new form), dates such as birthdays, links, mailed codes, enrolment codes.
_ID_NUMBER = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Da-d0-9][0-9]{8}(?![A-Za-z0-9])")
_LINK = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_DATE = re.compile(r"(?<![0-9])[0-9]{2,4}[-/.年][0-9]{1,2}[-/.月][0-9]{1,2}日?(?![0-9])")
_CODE = re.compile(r"(?<![0-9])[0-9]{6,8}(?![0-9])")  # mailed codes, 19960102, 850102
_ENROLMENT = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{2}(?![A-Za-z0-9])"
)


def _password_like(word: str) -> bool:
    # The engine's pasted-password rule (bot.text), applied to each word of a message.
    if not 8 <= len(word) <= 64 or "@" in word or word.startswith(("http", "/")):
        return False
    classes = (
        any(ch.isupper() for ch in word),
        any(ch.islower() for ch in word),
        any(ch.isdigit() for ch in word),
        any(not ch.isalnum() and ch not in "-./" for ch in word),
    )
    return sum(classes) >= 3


def scrub(text: str) -> str:
    """``text`` without ID numbers, dates, links, codes or password-like words, cut short."""
    text = _LINK.sub("[link]", text)
    text = _ID_NUMBER.sub("[ID number]", text)
    text = _ENROLMENT.sub("[code]", text)
    text = _DATE.sub("[date]", text)
    text = _CODE.sub("[number]", text)
    words = re.split(r"(\s+)", text)
    text = "".join("[removed]" if _password_like(word) else word for word in words)
    return text[:MAX_MESSAGE]


def next_opening(handoff: Handoff, profile_zone: Any, now: dt.datetime) -> dt.datetime | None:
    """When the help desk next opens, in the profile's zone; None while it is open."""
    local = now.astimezone(profile_zone)
    if local.isoweekday() in handoff.office_days and (
        handoff.office_opens <= local.time() < handoff.office_closes
    ):
        return None
    day = local.date()
    for _ in range(8):
        opening = dt.datetime.combine(day, handoff.office_opens, tzinfo=profile_zone)
        if day.isoweekday() in handoff.office_days and opening > local:
            return opening
        day += dt.timedelta(days=1)
    return None  # no office days at all


async def open_case_of(session: AsyncSession, channel: str, chat_id: str) -> Case | None:
    """The chat's case still open (one per chat), if any."""
    return await session.scalar(
        select(Case).where(
            Case.channel == channel, Case.chat_id == chat_id, Case.status != CaseStatus.CLOSED
        )
    )


async def opened_since(session: AsyncSession, actor: str, since: dt.datetime) -> int:
    """How many cases this chat user opened since ``since`` (the flooding limit)."""
    count = await session.scalar(
        select(func.count()).select_from(Case).where(Case.actor == actor, Case.opened_at >= since)
    )
    return int(count or 0)


async def recent_steps(session: AsyncSession, actor: str, now: dt.datetime) -> list[str]:
    """The chat user's last audited steps ("student_id lookup no_match"), oldest first."""
    rows = await session.scalars(
        select(AuditEvent)
        .where(AuditEvent.actor == actor, AuditEvent.at >= now - CONTEXT_WINDOW)
        .order_by(AuditEvent.id.desc())
        .limit(CONTEXT_STEPS)
    )
    return [f"{e.flow or '-'} {e.action} {e.outcome}" for e in reversed(list(rows))]


async def open_case(
    session: AsyncSession,
    *,
    profile: Profile,
    channel: str,
    chat_id: str,
    actor: str,
    person_id: int | None,
    account: str | None,
    locale: str,
    question: str,
    steps: Sequence[str],
    now: dt.datetime,
    verbatim: bool = False,
) -> Case:
    """Open a case and queue its mail to the help desk; the caller checked the limits.

    ``verbatim``: the question is the bot's own text from directory facts (no ID number
    or birthday, nothing the user typed), kept as written rather than scrubbed.
    """
    case = Case(
        channel=channel,
        chat_id=chat_id,
        actor=actor,
        person_id=person_id,
        account=account,
        locale=locale,
        status=CaseStatus.OPEN,
        question=question[:MAX_MESSAGE] if verbatim else scrub(question),
        context={"steps": list(steps)},
        staff_posts={},
        opened_at=now,
        last_activity_at=now,
    )
    session.add(case)
    await session.flush()
    _audit(session, case, now, channel=channel, actor=actor, action="case_opened")
    CASES_OPENED.inc()
    if profile.handoff.mail_to:
        enqueue(
            session,
            to=profile.handoff.mail_to,
            subject=f"[case #{case.id}] {case.question[:60]}",
            body=summary(case, profile),
            now=now,
        )
    return case


def who(case: Case) -> str:
    """Whom staff see: the linked account, else the chat user's pseudonym."""
    return case.account or f"chat user {case.actor[:12]}"


def summary(case: Case, profile: Profile) -> str:
    """The case as staff read it (plain text; no ID number, birthday or secret)."""
    opened = case.opened_at.astimezone(profile.zone).strftime("%Y-%m-%d %H:%M")
    lines = [
        f"Case #{case.id} ({case.status})",
        f"From: {who(case)} on {case.channel}, language {case.locale}",
        f"Opened: {opened} (Taiwan time)",
        f"Question: {case.question}",
    ]
    steps = case.context.get("steps") or []
    if steps:
        lines.append("Last steps: " + "; ".join(str(s) for s in steps))
    if case.claimed_by:
        lines.append(f"Claimed by: {case.claimed_by}")
    if case.closed_at is not None:
        lines.append(f"Closed by: {case.closed_by}")
    if case.rating is not None:
        lines.append(f"Rating: {case.rating}/5")
    return "\n".join(lines)


async def add_user_message(
    session: AsyncSession, case: Case, text: str, *, profile: Profile, now: dt.datetime
) -> bool:
    """Record a user's message for staff; False (nothing kept) past the per-minute limit."""
    recent = await session.scalar(
        select(func.count())
        .select_from(CaseMessage)
        .where(
            CaseMessage.case_id == case.id,
            CaseMessage.source == "user",
            CaseMessage.created_at >= now - dt.timedelta(minutes=1),
        )
    )
    if int(recent or 0) >= profile.handoff.messages_per_minute:
        return False
    session.add(
        CaseMessage(case_id=case.id, source="user", author="user", text=scrub(text), created_at=now)
    )
    case.last_activity_at = now
    return True


def _notice(session: AsyncSession, case: Case, text: str, now: dt.datetime) -> None:
    session.add(ChatNotice(channel=case.channel, chat_id=case.chat_id, text=text, created_at=now))


def _audit(session: AsyncSession, case: Case, now: dt.datetime, **kw: Any) -> None:
    audit.record(session, at=now, flow=FLOW, outcome="ok", case=case.id, **kw)


async def add_staff_message(
    session: AsyncSession, case: Case, *, source: str, author: str, text: str, now: dt.datetime
) -> None:
    """A staff answer: kept for the case, and queued for the user's chat in its language."""
    text = text.strip()[:MAX_MESSAGE]
    session.add(
        CaseMessage(
            case_id=case.id,
            source=source,
            author=author,
            text=text,
            created_at=now,
            posted={source: now.isoformat()},
        )
    )
    t = Translator(case.locale)
    _notice(
        session, case, t._("The help desk (case #{case}): {text}", case=case.id, text=text), now
    )
    if case.first_answer_at is None:
        case.first_answer_at = now
        CASES_ANSWERED.inc()
        FIRST_ANSWER_SECONDS.observe((now - case.opened_at).total_seconds())
        _audit(session, case, now, channel=source, actor=author, action="case_answered")
    if case.status == CaseStatus.OPEN:
        case.status, case.claimed_by, case.claimed_at = CaseStatus.CLAIMED, author, now
    case.last_activity_at = now


def claim(session: AsyncSession, case: Case, *, by: str, channel: str, now: dt.datetime) -> bool:
    """Staff take the case; False if it is closed or someone else has it."""
    if case.status != CaseStatus.OPEN:
        return case.status == CaseStatus.CLAIMED and case.claimed_by == by
    case.status, case.claimed_by, case.claimed_at = CaseStatus.CLAIMED, by, now
    case.last_activity_at = now
    _audit(session, case, now, channel=channel, actor=by, action="case_claimed")
    t = Translator(case.locale)
    _notice(
        session,
        case,
        t._(
            "A person at the help desk has taken your case #{case} and will answer here.",
            case=case.id,
        ),
        now,
    )
    return True


async def close(
    session: AsyncSession,
    case: Case,
    *,
    by: str,
    channel: str,
    now: dt.datetime,
    idle_minutes: int | None = None,
) -> bool:
    """Close the case, tell the user and ask for a rating; False if it was closed already.

    The rating is asked by putting the chat, if it is not in the middle of something
    else, in the rating flow: the user's next answer (1 to 5) is the rating.
    """
    if case.status == CaseStatus.CLOSED:
        return False
    case.status, case.closed_at, case.closed_by = CaseStatus.CLOSED, now, by
    _audit(
        session, case, now, channel=channel, actor=by, action="case_closed", idle=bool(idle_minutes)
    )
    if by == "user":
        return True  # the user closed it in the chat, which asks for the rating itself
    t = Translator(case.locale)
    if idle_minutes is not None:
        closed = t._(
            "Case #{case} was closed after {minutes} minutes without messages.",
            case=case.id,
            minutes=idle_minutes,
        )
    else:
        closed = t._("The help desk closed case #{case}.", case=case.id)
    state = await session.scalar(
        select(ConversationState)
        .where(ConversationState.channel == case.channel, ConversationState.chat_id == case.chat_id)
        .with_for_update()
    )
    if state is not None and state.flow is None:
        state.flow, state.state = RATING_FLOW, RATING_STATE
        state.data = {
            "case": case.id,
            "_choices": [[f"rate:{n}", str(n)] for n in RATINGS] + [["rate:skip", t._("Skip")]],
        }
        state.version += 1
        state.updated_at = now
        closed = " ".join(
            (
                closed,
                t._(
                    "How helpful was the help desk? Reply with a number from 1 (not at all) "
                    "to 5 (very)."
                ),
            )
        )
    _notice(session, case, closed, now)
    return True


def rate(session: AsyncSession, case: Case, rating: int, *, actor: str, now: dt.datetime) -> bool:
    """Record the user's rating of a closed case, once."""
    if case.status != CaseStatus.CLOSED or case.rating is not None or rating not in RATINGS:
        return False
    case.rating = rating
    _audit(
        session, case, now, channel=case.channel, actor=actor, action="case_rated", rating=rating
    )
    return True


async def close_idle(
    sessions: async_sessionmaker[AsyncSession], *, profile: Profile, now: dt.datetime
) -> list[int]:
    """Close the cases idle past the profile's time (SKIP LOCKED: every loop may run it)."""
    minutes = profile.handoff.idle_close_minutes
    async with sessions() as session, session.begin():
        cases = (
            await session.scalars(
                select(Case)
                .where(
                    Case.status != CaseStatus.CLOSED,
                    Case.last_activity_at < now - dt.timedelta(minutes=minutes),
                )
                .order_by(Case.id)
                .limit(100)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for case in cases:
            await close(
                session, case, by="idle", channel="background", now=now, idle_minutes=minutes
            )
        return [case.id for case in cases]
