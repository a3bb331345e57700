"""The help desk's side of cases, whatever chat its staff work in.

A ``StaffDesk`` is one place staff read cases: the profile's Slack channel or Telegram
group. ``CaseDesk`` does what is the same for both: post each new case (with Claim and
Close buttons) and each user message to the case's thread, turn a staff reply in the
thread into an answer for the user, act on the buttons, close idle cases. The platform
side (``bot/adapters/staff_*.py``) only makes the calls.

Posting is claimed before the call (a marker in ``staff_posts`` or ``posted``) so two
workers never post the same case twice; the call itself runs outside any transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Protocol

from sqlalchemy import select

from bot.services import Services
from bot.text import looks_like_password
from core import cases
from core.models import Case, CaseMessage, CaseStatus

log = logging.getLogger(__name__)

PENDING = "pending"
# A post claimed but not confirmed this long ago (a worker died mid-call) is tried again.
RETRY_AFTER = dt.timedelta(minutes=5)
NOT_RELAYED = (
    "That looks like a password, so it was not passed on to the user. Never send a "
    "password in a chat; if the user needs a new one, they can reset it from the bot's menu."
)


class StaffDesk(Protocol):
    """One platform's calls for a staff channel or group."""

    desk: str  # the name in ``Case.staff_posts`` and ``CaseMessage.posted``

    async def post_case(self, case_id: int, text: str, status: str) -> dict[str, Any]:
        """Post a new case with its buttons; return where it went (the thread's root)."""
        ...

    async def update_case(
        self, where: dict[str, Any], case_id: int, text: str, status: str
    ) -> None:
        """Redraw the case's root message (its buttons follow the status)."""
        ...

    async def post_in_thread(self, where: dict[str, Any], text: str) -> dict[str, Any]:
        """Post in the case's thread; return what ``where`` gains (e.g. message ids)."""
        ...


def message_line(message: CaseMessage) -> str:
    who = "User" if message.source == "user" else f"Staff ({message.author})"
    return f"{who}: {message.text}"


class CaseDesk:
    """Cases on one staff desk: posting, staff replies, buttons, idle closing."""

    def __init__(self, services: Services, desk: StaffDesk) -> None:
        self.services = services
        self.desk = desk

    @property
    def name(self) -> str:
        return self.desk.desk

    def author(self, user: str) -> str:
        return f"{self.name}:{user}"

    async def run_once(self) -> None:
        """Close idle cases, then post what this desk has not shown yet."""
        now = self.services.clock.now()
        for case_id in await cases.close_idle(
            self.services.sessions, profile=self.services.profile, now=now
        ):
            await self.refresh(case_id)
        await self._post_new_cases(now)
        await self._post_messages(now)

    async def _post_new_cases(self, now: dt.datetime) -> None:
        async with self.services.sessions() as session, session.begin():
            rows = (
                await session.scalars(
                    select(Case)
                    .where(Case.status != CaseStatus.CLOSED)
                    .order_by(Case.id)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            due = [row for row in rows if self._unposted(row.staff_posts.get(self.name), now)]
            for row in due:
                row.staff_posts = {**row.staff_posts, self.name: {PENDING: now.isoformat()}}
            todo = [(c.id, cases.summary(c, self.services.profile), c.status) for c in due]
        for case_id, text, status in todo:
            where = await self.desk.post_case(case_id, text, status)
            async with self.services.sessions() as session, session.begin():
                case = await session.get(Case, case_id, with_for_update=True)
                if case is not None:
                    case.staff_posts = {**case.staff_posts, self.name: where}

    def _unposted(self, where: dict[str, Any] | None, now: dt.datetime) -> bool:
        if where is None:
            return True
        pending = where.get(PENDING)
        return pending is not None and dt.datetime.fromisoformat(pending) < now - RETRY_AFTER

    async def _post_messages(self, now: dt.datetime) -> None:
        async with self.services.sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(CaseMessage, Case)
                    .join(Case, Case.id == CaseMessage.case_id)
                    .order_by(CaseMessage.id)
                    .limit(200)
                    .with_for_update(of=CaseMessage, skip_locked=True)
                )
            ).all()
            todo: list[tuple[int, int, dict[str, Any], str]] = []
            for message, case in rows:
                where = case.staff_posts.get(self.name)
                if self.name in message.posted or where is None or PENDING in where:
                    continue
                message.posted = {**message.posted, self.name: now.isoformat()}
                todo.append((case.id, message.id, where, message_line(message)))
        for case_id, _message_id, where, text in todo:
            gained = await self.desk.post_in_thread(where, text)
            if gained:
                await self._remember(case_id, gained)

    async def _remember(self, case_id: int, gained: dict[str, Any]) -> None:
        async with self.services.sessions() as session, session.begin():
            case = await session.get(Case, case_id, with_for_update=True)
            if case is not None:
                where = dict(case.staff_posts.get(self.name) or {})
                for key, value in gained.items():
                    where[key] = [*where.get(key, []), *value] if isinstance(value, list) else value
                case.staff_posts = {**case.staff_posts, self.name: where}

    async def case_for(self, match: dict[str, Any]) -> int | None:
        """The case whose thread on this desk ``match`` names (every key equal, or in a list)."""
        async with self.services.sessions() as session:
            rows = await session.scalars(select(Case).order_by(Case.id.desc()).limit(500))
            for case in rows:
                where = case.staff_posts.get(self.name) or {}
                if all(
                    where.get(k) == v or (isinstance(where.get(k), list) and v in where[k])
                    for k, v in match.items()
                ):
                    return case.id
        return None

    async def staff_reply(self, case_id: int, user: str, text: str) -> tuple[bool, str | None]:
        """A staff member wrote in the case's thread: whether it went to the user, and
        what to tell them in the thread, if anything."""
        if not text.strip():
            return False, None
        if any(looks_like_password(word) for word in text.split()):
            # The user-side rule, in this direction too: chat history is kept on servers.
            return False, NOT_RELAYED
        now = self.services.clock.now()
        async with self.services.sessions() as session, session.begin():
            case = await session.get(Case, case_id, with_for_update=True)
            if case is None:
                return False, None
            if case.status == CaseStatus.CLOSED:
                return False, f"Case #{case_id} is closed; the user did not get that."
            was_open = case.status == CaseStatus.OPEN
            await cases.add_staff_message(
                session, case, source=self.name, author=self.author(user), text=text, now=now
            )
        if was_open:
            await self.refresh(case_id)
        return True, None

    async def button(self, case_id: int, action: str, user: str) -> None:
        """Claim or Close pressed on the case's message."""
        now = self.services.clock.now()
        async with self.services.sessions() as session, session.begin():
            case = await session.get(Case, case_id, with_for_update=True)
            if case is None:
                return
            if action == "claim":
                cases.claim(session, case, by=self.author(user), channel=self.name, now=now)
            elif action == "close":
                await cases.close(session, case, by=self.author(user), channel=self.name, now=now)
        await self.refresh(case_id)

    async def refresh(self, case_id: int) -> None:
        """Redraw the case's root message on this desk."""
        async with self.services.sessions() as session:
            case = await session.get(Case, case_id)
            if case is None:
                return
            where = case.staff_posts.get(self.name)
            text, status = cases.summary(case, self.services.profile), case.status
        if where is not None and PENDING not in where:
            await self.desk.update_case(where, case_id, text, status)


async def staff_round(services: Services, desk: CaseDesk | None) -> None:
    """One round of case work for an adapter's loop: its staff desk, or idle closing alone.

    Without a staff channel (cases only mailed) idle cases must still close.
    """
    if desk is not None:
        await desk.run_once()
    else:
        await cases.close_idle(
            services.sessions, profile=services.profile, now=services.clock.now()
        )
