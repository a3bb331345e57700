"""Enumeration: answers must not tell whether an ID number or an account exists.

For each of the three questions an attacker could use as an oracle (student ID lookup,
forgot password, linking a chat), the same question is asked 200 times about a target
that exists and 200 times about one that does not, interleaved. The answers (every
reply's kind, text and buttons; a button's per-step nonce aside, which is random for
everyone) must be byte-identical, and the medians of the time the engine takes to
answer must differ by no more than 5 ms.

- ID lookup: an ID number in the directory with a wrong birthday, and a valid ID number
  that is in no record (both misses: a match is supposed to answer).
- Forgot password: an account with its owner's ID number, so a link is mailed, and an
  account of the same shape (the same masked campus address) that does not exist.
- Linking: an account that exists, so a code is mailed, and one that does not; then a
  wrong code for each.

Each request is a fresh chat standing where the user would stand before the timed
message: the state a real route through the engine reached, copied (untimed) to the new
chat. The profile's rate limits are raised so that 200 requests about one target are
all answered; the limits have their own test (test_brute_force.py).
"""

from __future__ import annotations

import datetime as dt
import gc
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, update

from bot.engine import Engine
from bot.services import Services
from bot.types import Choices, DeleteUserMessage, Edit, Image, Reply, Text
from core.models import Mailbox, OutboundMail, Person
from tests.chat import Chat
from tests.factories import add_student
from tests.reliability.fast_db import database_url  # noqa: F401  (SQLite on tmpfs)
from tests.reliability.stored_chats import ChatDriver, Op, Route

REQUESTS = 200
WARM_UP = 10
MEDIAN_TOLERANCE_MS = 5.0

ID_NUMBER = "A128573490"  # 林明志's, in the directory
BIRTHDAY = dt.date(2001, 3, 14)
STUDENT_ID = "211303001"  # his account and campus mailbox a211303001@…
ABSENT_ID_NUMBER = "F131104093"  # valid, in no record
ABSENT_STUDENT_ID = "211399901"  # no such account; masked the same: a2******01@…


@dataclass(frozen=True)
class Question:
    """Where the user stands (the route) and the message whose answer is compared."""

    route: Route
    message: str


def _start(flow: str) -> Route:
    return (Op("say", "/start"), Op("press", f"flow:{flow}"))


QUESTIONS: dict[str, tuple[Question, Question]] = {
    "student ID lookup": (
        Question(
            (*_start("student_id"), Op("press", "master"), Op("say", ID_NUMBER)), "2001-03-15"
        ),
        Question(
            (*_start("student_id"), Op("press", "master"), Op("say", ABSENT_ID_NUMBER)),
            "2001-03-15",
        ),
    ),
    "forgot password": (
        Question((*_start("forgot_password"), Op("say", STUDENT_ID)), ID_NUMBER),
        Question((*_start("forgot_password"), Op("say", ABSENT_STUDENT_ID)), ID_NUMBER),
    ),
    "linking": (
        Question(_start("link"), STUDENT_ID),
        Question(_start("link"), ABSENT_STUDENT_ID),
    ),
}


def rendered(replies: list[Reply]) -> bytes:
    """What the user receives, byte for byte, with each button's random nonce blanked."""
    parts: list[str] = []
    for reply in replies:
        match reply:
            case Text(text):
                parts.append(f"text:{text}")
            case Choices(text, choices):
                parts.append(f"choices:{text}")
                parts += [f"button:{c.label}|{c.action.partition(':')[2]}" for c in choices]
            case Image() | Edit():
                raise AssertionError("no image is expected here")
            case DeleteUserMessage(message_id):
                parts.append(f"delete:{message_id}")
    return "\n".join(parts).encode()


async def _add_her(services: Services) -> None:
    """The student whose account the strangers name."""
    await add_student(
        services, id_number=ID_NUMBER, birthday=BIRTHDAY, student_id=STUDENT_ID, with_account=True
    )


@pytest.fixture
async def driver(engine: Engine, services: Services) -> AsyncIterator[ChatDriver]:
    await _add_her(services)
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(Person).values(notification_email="lin@example.org"),
        )
        await session.execute(update(Mailbox).values(notification_address="lin@example.org"))
    limits = services.profile.limits.model_copy(
        update={
            "failures_per_user": 10**6,
            "lookups_per_id_per_day": 10**6,
            "lookups_global_per_minute": 10**6,
        }
    )
    services.profile = services.profile.model_copy(update={"limits": limits})
    yield ChatDriver(engine, services, channel="enum", people={})


async def _mails(services: Services) -> int:
    async with services.sessions() as session:
        return await session.scalar(select(func.count()).select_from(OutboundMail)) or 0


@pytest.mark.parametrize("question", list(QUESTIONS))
async def test_answers_about_existing_and_absent_targets_are_identical_and_equally_fast(
    driver: ChatDriver, services: Services, question: str
) -> None:
    existing, absent = QUESTIONS[question]
    starts = []
    for asked in (existing, absent):
        _chat, snap = await driver.replay(asked.route)
        starts.append(snap)
    assert starts[0].position == starts[1].position

    answers: dict[int, set[bytes]] = {0: set(), 1: set()}
    timings: dict[int, list[float]] = {0: [], 1: []}
    chats: dict[int, list[str]] = {0: [], 1: []}
    mails_before = await _mails(services)
    gc.collect()
    gc.disable()
    try:
        for round_ in range(WARM_UP + REQUESTS):
            # ABBA: neither target is always first, so drift cancels out.
            for which in (0, 1) if round_ % 2 == 0 else (1, 0):
                asked = (existing, absent)[which]
                chat = await driver.clone(starts[which])
                incoming = driver.incoming(chat, text=asked.message)
                began = time.perf_counter()
                replies = await driver.engine.handle(incoming)
                elapsed = time.perf_counter() - began
                if round_ >= WARM_UP:
                    timings[which].append(elapsed)
                    answers[which].add(rendered(replies))
                    chats[which].append(chat)
    finally:
        gc.enable()

    assert len(answers[0]) == 1, "the answers about the existing target vary"
    assert answers[0] == answers[1], (
        f"{question}: the answer about an existing target differs from the absent one's:\n"
        f"{next(iter(answers[0])).decode()}\n---\n{next(iter(answers[1])).decode()}"
    )
    mailed = await _mails(services) - mails_before
    if question == "forgot password":
        # The existing target really is one: every request that proved the ID number
        # mailed a link (a proven request is never held back by the address's limits).
        assert mailed == WARM_UP + REQUESTS, f"{mailed} mails for {REQUESTS + WARM_UP} requests"
    elif question == "linking":
        # Naming an account proves nothing: its address got one code in the minute.
        assert mailed == 1, f"{mailed} codes mailed to one address within a minute"
    if question == "linking":
        # The next step reads the same too: a wrong code counts down alike.
        wrong = [rendered(await driver.send(chats[which][0], text="000000")) for which in (0, 1)]
        assert wrong[0] == wrong[1]

    medians = [statistics.median(timings[which]) * 1000 for which in (0, 1)]
    print(
        f"{question}: median {medians[0]:.2f} ms (exists) vs {medians[1]:.2f} ms (absent); "
        f"p90 {statistics.quantiles(timings[0], n=10)[-1] * 1000:.2f} / "
        f"{statistics.quantiles(timings[1], n=10)[-1] * 1000:.2f} ms"
    )
    assert abs(medians[0] - medians[1]) <= MEDIAN_TOLERANCE_MS, (
        f"{question}: the median answer takes {medians[0]:.2f} ms for an existing target and "
        f"{medians[1]:.2f} ms for an absent one"
    )


async def _mails_to(services: Services, address: str) -> list[OutboundMail]:
    async with services.sessions() as session:
        rows = await session.scalars(select(OutboundMail).where(OutboundMail.to_address == address))
        return list(rows)


async def test_strangers_asking_for_a_victims_account_cannot_stop_her_proven_reset(
    engine: Engine, services: Services
) -> None:
    """Issue 16.5: naming an account proves nothing, so it spends nothing of the owner's.

    Twelve chat users, more than the per-account daily cap, ask for change links and
    linking codes for one student's account; she then proves her ID number and gets her
    reset link. Each stranger reads the same reply a stranger asking about an account
    that does not exist reads, and her address got one mail from all of them.
    """
    await _add_her(services)
    strangers = services.profile.limits.lookups_per_id_per_day + 2
    for n in range(strangers):
        replies: list[bytes] = []
        for account in (STUDENT_ID, ABSENT_STUDENT_ID):
            for flow in ("Change my password", "Link this chat to my account"):
                chat = Chat(engine, user=f"stranger-{n}-{account}", locale="en")
                await chat.say("/start")
                await chat.press(flow)
                replies.append(rendered(await chat.say(account)))
        assert replies[:2] == replies[2:], "the replies tell an existing account apart"
    mailbox = f"a{STUDENT_ID}@grad.demo.edu.tw"
    assert len(await _mails_to(services, mailbox)) == 1

    owner = Chat(engine, user="the-owner", locale="en")
    await owner.say("/start")
    await owner.press("I forgot my password")
    await owner.say(STUDENT_ID)
    answer = await owner.say(ID_NUMBER)
    assert "Too many requests" not in rendered(answer).decode()
    mails = await _mails_to(services, mailbox)
    assert len(mails) == 2 and "/password/" in mails[-1].body
