"""Brute force: a scripted attacker gets no more answers than the profile's limits allow.

The attacker tries ID number / birthday pairs in the student ID lookup, the one flow
whose answer is an oracle (a match names the student ID). It talks to the real engine
as a user does: press "Look up my student ID", press the degree level, type the ID
number, type the birthday; a refused pair is tried again on the next attempt. Eight
attempts are in flight at once (on PostgreSQL they race for the counters). The clock
stands still within a burst (the attacker is as fast as it likes) and moves only
between bursts. The limits are the demo profile's (DESIGN.md, Taiwan's baseline):

- per chat user: 5 misses lock the user's lookups for 15 minutes;
- per ID number: 10 lookups a day, whoever asks;
- overall: 600 lookups a minute.

An answer is a match or a miss (a lookup that ran); a refusal answers nothing. Each
scenario states which limit binds, checks that the attacker got at most what every
limit allows (in total, per user and per ID number), that the binding limit did refuse
it, and that it never learned a student ID (the right pairs come after what the limits
let through).

By default each scenario makes just enough attempts to run into its limit and past it
(200 to 600; about 35 s in all on SQLite, 25 s on PostgreSQL).
``HELPDESK_BRUTE_FORCE_PAIRS=10000`` makes every scenario try the issue's 10,000 pairs
(about 12 minutes on SQLite).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections import Counter
from dataclasses import dataclass, field

import pytest

from bot.conversations.student_id import NO_MATCH, TOO_OFTEN
from bot.engine import Engine
from bot.services import Services
from bot.types import Choices, Reply, Text
from core.clock import FakeClock
from core.i18n import Translator
from core.idnumbers import make_valid
from core.ratelimit import RateLimiter
from tests.factories import add_student
from tests.reliability.fast_db import database_url  # noqa: F401  (SQLite on tmpfs)
from tests.reliability.stored_chats import ChatDriver, action_for

FULL_RUN = os.environ.get("HELPDESK_BRUTE_FORCE_PAIRS")
USERS = 100
PARALLEL = 8  # attackers' messages in flight at once

ID_NUMBER = "A128573490"  # 林明志, master's student 211303001
BIRTHDAY = dt.date(2001, 3, 14)

EN = Translator("en")
MISS = EN._(NO_MATCH)
TOO_OFTEN_TEXT = EN._(TOO_OFTEN)
BUSY = EN._("Many people are asking right now. Please try again in a minute.")
LOCKED_PREFIX = EN._(
    "Too many lookups did not match, so lookups are paused for you until {time} "
    "(Taiwan time). Please try again after that.",
    time="\x00",
).split("\x00")[0]
MATCH_PREFIX = EN._("Your student ID is {student_id}.", student_id="\x00").split("\x00")[0]


def outcome(replies: list[Reply]) -> str:
    """What the attacker learned from the last replies of an attempt."""
    texts = [reply.text for reply in replies if isinstance(reply, Text)]
    if any(text.startswith(MATCH_PREFIX) for text in texts):
        return "match"
    if any(text.startswith(MISS) for text in texts):  # then whom to contact
        return "miss"
    if any(text.startswith(LOCKED_PREFIX) for text in texts):
        return "locked"
    if TOO_OFTEN_TEXT in texts:
        return "too_often"
    if BUSY in texts:
        return "busy"
    raise AssertionError(f"an unexpected answer: {texts}")


def _offers(replies: list[Reply], value: str) -> bool:
    return any(
        c.action.endswith(f":{value}") for r in replies if isinstance(r, Choices) for c in r.choices
    )


@dataclass
class Log:
    """Everything the attacker got, by user and by ID number."""

    outcomes: Counter[str] = field(default_factory=Counter)
    answers_by_user: Counter[str] = field(default_factory=Counter)
    answers_by_id: Counter[str] = field(default_factory=Counter)
    matches: int = 0

    @property
    def answers(self) -> int:
        return self.outcomes["match"] + self.outcomes["miss"]


class Attacker:
    """Chat users trying pairs, each user's pairs in order, a refused pair again."""

    def __init__(self, driver: ChatDriver, users: int) -> None:
        self.driver = driver
        self.users = [driver.new_chat() for _ in range(users)]
        self.last: dict[str, list[Reply]] = {}
        self.log = Log()
        self.gate = asyncio.Semaphore(PARALLEL)

    async def _attempt(self, user: str, id_number: str, birthday: dt.date) -> str:
        send = self.driver.send
        if user not in self.last or not _offers(self.last[user], "flow:student_id"):
            # First, or after a miss (which offers "try again"): from the menu each time.
            self.last[user] = await send(user, text="/start")
        replies = await send(user, action=action_for(self.last[user], "flow:student_id"))
        offered = [c for r in replies if isinstance(r, Choices) for c in r.choices]
        if any(choice.action.endswith(":master") for choice in offered):  # not locked out
            await send(user, action=action_for(replies, "master"))
            await send(user, text=id_number)
            replies = await send(user, text=birthday.isoformat())
        self.last[user] = replies
        return outcome(replies)

    async def run(self, user: str, pairs: list[tuple[str, dt.date]], attempts: int) -> None:
        """``attempts`` attempts of one user over ``pairs`` (a refused pair is tried again)."""
        next_pair = 0
        for _ in range(attempts):
            if next_pair >= len(pairs):
                return
            id_number, birthday = pairs[next_pair]
            async with self.gate:
                result = await self._attempt(user, id_number, birthday)
            self.log.outcomes[result] += 1
            if result in ("match", "miss"):
                self.log.answers_by_user[user] += 1
                self.log.answers_by_id[id_number] += 1
                next_pair += 1
            self.log.matches += result == "match"

    async def burst(self, pairs_of: dict[str, list[tuple[str, dt.date]]], attempts: int) -> None:
        """Every user attacks at once; ``attempts`` attempts in all, shared evenly."""
        each, extra = divmod(attempts, len(self.users))
        await asyncio.gather(
            *(
                self.run(user, pairs_of[user], each + (index < extra))
                for index, user in enumerate(self.users)
            )
        )


def attempts(default: int) -> int:
    return int(FULL_RUN) if FULL_RUN else default


def birthdays_before(day: dt.date, count: int) -> list[dt.date]:
    return [day - dt.timedelta(days=count - i) for i in range(count)]


@pytest.fixture
async def driver(engine: Engine, services: Services) -> ChatDriver:
    await add_student(services, id_number=ID_NUMBER, birthday=BIRTHDAY, student_id="211303001")
    return ChatDriver(engine, services, channel="brute", people={})


def _limits(services: Services, **changes: int) -> None:
    limits = services.profile.limits.model_copy(update=changes)
    services.profile = services.profile.model_copy(update={"limits": limits})


async def test_one_chat_user_guessing_a_birthday_gets_five_answers_per_lockout_and_ten_a_day(
    driver: ChatDriver, services: Services, clock: FakeClock
) -> None:
    """Three bursts 15 minutes apart: the user lock allows 15 answers, the ID's day 10."""
    limits = services.profile.limits
    attacker = Attacker(driver, users=1)
    # The right birthday comes 12th: within reach only if more than 10 answers get out.
    guesses = [
        *birthdays_before(BIRTHDAY, 11),
        BIRTHDAY,
        *birthdays_before(dt.date(1990, 1, 1), 10_000),
    ]
    pairs = {attacker.users[0]: [(ID_NUMBER, day) for day in guesses]}
    bursts = 3
    for index in range(bursts):
        if index:
            clock.advance(minutes=limits.lockout_minutes, seconds=1)
        before = attacker.log.answers
        await attacker.burst(pairs, attempts(360) // bursts)
        assert attacker.log.answers - before <= limits.failures_per_user, "lock per user"
    log = attacker.log
    allowed = min(bursts * limits.failures_per_user, limits.lookups_per_id_per_day)
    print(f"one user: {dict(log.outcomes)}; allowed {allowed} answers")
    assert log.answers <= allowed
    assert log.matches == 0, "the attacker learned the student ID"
    assert log.outcomes["locked"] > 0 and log.outcomes["too_often"] > 0


async def test_a_hundred_chat_users_share_each_id_numbers_ten_lookups_a_day(
    driver: ChatDriver, services: Services
) -> None:
    """Pairs over 10 ID numbers: 100 users may miss 500 times, the ID numbers allow 100."""
    limits = services.profile.limits
    attacker = Attacker(driver, users=USERS)
    ids = [ID_NUMBER, *(make_valid(f"A1{n:07d}") for n in range(9))]
    days = birthdays_before(dt.date(1995, 1, 1), 5_000)  # far from the right birthday
    pairs = [(number, day) for day in days for number in ids]  # the ID numbers in turn
    pairs_of = {user: pairs[index::USERS] for index, user in enumerate(attacker.users)}
    await attacker.burst(pairs_of, attempts(200))
    log = attacker.log
    allowed = min(
        USERS * limits.failures_per_user,
        len(ids) * limits.lookups_per_id_per_day,
        limits.lookups_global_per_minute,
    )
    print(f"100 users, 10 ID numbers: {dict(log.outcomes)}; allowed {allowed} answers")
    assert log.answers <= allowed
    assert max(log.answers_by_id.values()) <= limits.lookups_per_id_per_day
    assert max(log.answers_by_user.values()) <= limits.failures_per_user
    assert log.matches == 0
    assert log.outcomes["too_often"] > 0


async def test_a_hundred_chat_users_over_many_id_numbers_get_five_answers_each_and_are_locked(
    driver: ChatDriver, services: Services
) -> None:
    """Every pair a new ID number: only the per-user lock stands in the way (500 answers)."""
    limits = services.profile.limits
    attacker = Attacker(driver, users=USERS)
    tries = attempts(USERS * (limits.failures_per_user + 1))
    pairs = [(make_valid(f"B2{n:07d}"), dt.date(1995, 1, 1)) for n in range(tries)]
    pairs_of = {user: pairs[index::USERS] for index, user in enumerate(attacker.users)}
    await attacker.burst(pairs_of, tries)
    log = attacker.log
    allowed = min(USERS * limits.failures_per_user, limits.lookups_global_per_minute)
    print(f"100 users, new ID numbers: {dict(log.outcomes)}; allowed {allowed} answers")
    assert log.answers <= allowed
    assert max(log.answers_by_user.values()) <= limits.failures_per_user
    assert log.outcomes["locked"] > 0


async def test_a_hundred_chat_users_are_held_to_the_global_limit_per_minute(
    driver: ChatDriver, services: Services, clock: FakeClock
) -> None:
    """With the global limit below what 100 users may miss (20 a minute), it binds.

    The demo profile's 600 a minute is more than 100 locked-out users can reach (500),
    so this scenario lowers it; two bursts a minute apart get two minutes' worth.
    """
    _limits(services, lookups_global_per_minute=20)
    limits = services.profile.limits
    attacker = Attacker(driver, users=USERS)
    tries = attempts(200)
    pairs = [(make_valid(f"E1{n:07d}"), dt.date(1995, 1, 1)) for n in range(tries)]
    pairs_of = {user: pairs[index::USERS] for index, user in enumerate(attacker.users)}
    await attacker.burst(pairs_of, tries // 2)
    first = attacker.log.answers
    clock.advance(minutes=1, seconds=1)
    await attacker.burst(pairs_of, tries // 2)
    log = attacker.log
    allowed = 2 * limits.lookups_global_per_minute
    print(f"100 users, global limit 20/min: {dict(log.outcomes)}; allowed {allowed} answers")
    assert first <= limits.lookups_global_per_minute
    assert log.answers <= allowed
    assert log.outcomes["busy"] > 0


async def test_concurrent_steps_never_count_more_events_than_the_global_limit_as_within_it(
    services: Services,
) -> None:
    """The global cap's counter is spread over rows; steps in flight must not slip past it.

    Sixty steps count at once and keep their transaction open a moment, as a step does
    after counting; at most ``limit`` of them may see a count within the limit.
    """
    limiter = RateLimiter()
    limit = 10
    admitted = 0

    async def step() -> None:
        nonlocal admitted
        async with services.sessions() as session, session.begin():
            hit = await limiter.hit_spread(
                session,
                "probe",
                window=dt.timedelta(minutes=1),
                now=services.clock.now(),
                limit=limit,
            )
            await asyncio.sleep(0.02)
            admitted += hit.count <= limit

    await asyncio.gather(*(step() for _ in range(60)))
    assert admitted <= limit
    assert admitted > 0
