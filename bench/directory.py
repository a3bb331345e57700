"""Sections 3 and 4: ID-lookup turns, beside password hashing and against a large directory.

People are made up from their index: a checksum-valid ID number, a birthday, a student
ID in the demo profile's shape, stored as production stores them (keyed hashes of the
ID number and the birthday). They are bulk-loaded with PostgreSQL's COPY
(asyncpg's ``copy_records_to_table``), into the real, migrated schema with its indexes.

A lookup turn is the student-ID flow's last step through the engine: the chat is at
the birthday question (its state row written directly, as the two earlier steps would
leave it: the degree level and the ID number's keyed hash), the birthday arrives, and
the engine dedupes the delivery, locks the state row, counts the rate limits, runs the
directory query, writes the audit row and stores the new state, in one transaction.
The answer must name the person's student ID.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import insert

from bench.common import Databases, Figure, asyncpg_dsn, ms, percentile, settings_for
from bot import conversations  # noqa: F401  (registers the flows)
from bot.engine import Engine
from bot.services import Services, build_services
from bot.types import Incoming, Text
from core.idnumbers import make_valid
from core.models import ConversationState
from core.pii import PiiHasher

LETTERS = "ABCDEFGHJKLMNPQRSTUVXYWZIO"
FIRST_BIRTHDAY = dt.date(1980, 1, 1)
CHUNK = 50_000
_chat_ids = itertools.count(50_000_000)
_deliveries = itertools.count(1)


def id_number(i: int) -> str:
    return make_valid(f"{LETTERS[i // 10**7 % 26]}{1 + i % 2}{i % 10**7:07d}")


def birthday(i: int) -> dt.date:
    return FIRST_BIRTHDAY + dt.timedelta(days=i * 7 % 9000)


def student_id(i: int) -> str:
    return f"{1 + i % 2}{i:08d}"


def _rows(
    pii: PiiHasher, start: int, stop: int, now: dt.datetime
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    people, records = [], []
    for i in range(start, stop):
        number = id_number(i)
        people.append(
            (
                i + 1,
                "林明志",
                "Lin Ming-Zhi",
                "student",
                pii.id_number(number),
                pii.birthday(birthday(i)),
                number[:2] + "******" + number[-2:],
                None,
                now,
            )
        )
        level = "master" if i % 2 else "bachelor"
        records.append((i + 1, i + 1, student_id(i), level, "資訊工程學系", 113, "enrolled"))
    return people, records


PEOPLE_COLUMNS = [
    "id",
    "name_zh",
    "name_en",
    "role",
    "id_number_hash",
    "birthday_hash",
    "id_number_masked",
    "notification_email",
    "created_at",
]
RECORD_COLUMNS = [
    "id",
    "person_id",
    "student_id",
    "degree_level",
    "department",
    "entry_year",
    "status",
]


async def load_people(pii: PiiHasher, start: int, stop: int) -> float:
    """COPY people ``start`` .. ``stop - 1`` (and their enrolments) in; return the seconds."""
    began = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    connection = await asyncpg.connect(asyncpg_dsn())
    try:
        for low in range(start, stop, CHUNK):
            people, records = _rows(pii, low, min(stop, low + CHUNK), now)
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "people", records=people, columns=PEOPLE_COLUMNS
                )
                await connection.copy_records_to_table(
                    "student_records", records=records, columns=RECORD_COLUMNS
                )
        for table in ("people", "student_records"):
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {stop})"
            )
        await connection.execute("ANALYZE people")
        await connection.execute("ANALYZE student_records")
    finally:
        await connection.close()
    return time.perf_counter() - began


def level_of(i: int) -> str:
    return "master" if i % 2 else "bachelor"


@dataclass(frozen=True)
class Chat:
    chat_id: str
    person: int


async def place_at_birthday(services: Services, people: list[int]) -> list[Chat]:
    """New chats, each at the birthday question of the lookup for one of ``people``."""
    chats = [Chat(str(next(_chat_ids)), person) for person in people]
    now = services.clock.now()
    rows = [
        {
            "channel": "telegram",
            "chat_id": chat.chat_id,
            "flow": "student_id",
            "state": "birthday",
            "data": {
                "level": level_of(chat.person),
                "id_hash": services.pii.id_number(id_number(chat.person)),
            },
            "nonce": secrets.token_urlsafe(6),
            "version": 2,
            "updated_at": now,
        }
        for chat in chats
    ]
    async with services.sessions() as session, session.begin():
        await session.execute(insert(ConversationState), rows)
    return chats


def incoming(chat: Chat) -> Incoming:
    return Incoming(
        channel="telegram",
        user_id=chat.chat_id,
        chat_id=chat.chat_id,
        text=birthday(chat.person).isoformat(),
        locale_hint="en",
        delivery_id=f"bench-{next(_deliveries)}",
        message_id="1",
    )


async def lookup_turn(engine: Engine, chat: Chat) -> None:
    replies = await engine.handle(incoming(chat))
    expected = f"Your student ID is {student_id(chat.person)}."
    if not any(isinstance(r, Text) and r.text.startswith(expected) for r in replies):
        raise RuntimeError(f"the lookup did not find the student: {replies[:1]}")


def spread(total: int, count: int, salt: int = 0) -> Iterator[int]:
    """``count`` people spread over the whole directory of ``total``."""
    step = max(1, total // count)
    for n in range(count):
        yield (n * step + salt * 7919 + n * 104_729) % total


async def lookup_latencies(
    services: Services, engine: Engine, people: list[int]
) -> tuple[list[float], list[float]]:
    """Sequential lookup turns for ``people`` and the bare directory query for each (ms)."""
    chats = await place_at_birthday(services, people)
    turns, queries = [], []
    for chat in chats:
        t0 = time.perf_counter()
        await lookup_turn(engine, chat)
        turns.append(time.perf_counter() - t0)
    async with services.sessions() as session:
        for person in people:
            t0 = time.perf_counter()
            found = await services.directories(session).find_student_ids(
                id_number_hash=services.pii.id_number(id_number(person)),
                birthday_hash=services.pii.birthday(birthday(person)),
                degree_level=level_of(person),
            )
            queries.append(time.perf_counter() - t0)
            if found != [student_id(person)]:
                raise RuntimeError(f"the directory query found {found}")
    return ms(turns), ms(queries)


def p99(samples: list[float]) -> float:
    return percentile(samples, 99)


async def measure(
    dbs: Databases,
    home: Path,
    *,
    runs: int,
    sizes: tuple[int, ...],
    lookups: int,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Load the directory up to each size in turn; ``runs`` sets of ``lookups`` lookups each."""
    url = await dbs.fresh("postgresql")
    services = build_services(settings_for(url, home))
    engine = Engine(services)
    result: dict[str, Any] = {"sizes": list(sizes)}
    loaded = 0
    try:
        for size in sizes:
            before, loaded = loaded, size
            seconds = await load_people(services.pii, before, size)
            log(f"  loaded {size:,} people ({seconds:.1f} s for the last {size - before:,})")
            await lookup_latencies(services, engine, list(spread(size, 20, salt=99)))  # warm up
            row: dict[str, Any] = {"load_s": seconds}
            row |= {name: Figure() for name in ("turn_p50", "turn_p99", "query_p50", "query_p99")}
            for n in range(runs):
                turns, queries = await lookup_latencies(
                    services, engine, list(spread(size, lookups, salt=n))
                )
                row["turn_p50"].add(percentile(turns, 50))
                row["turn_p99"].add(percentile(turns, 99))
                row["query_p50"].add(percentile(queries, 50))
                row["query_p99"].add(percentile(queries, 99))
                log(
                    f"  run {n + 1} {size:,} people: lookup turn p50 {percentile(turns, 50):.2f} "
                    f"ms, p99 {percentile(turns, 99):.2f} ms; query p99 "
                    f"{percentile(queries, 99):.2f} ms"
                )
            result[str(size)] = row
    finally:
        await services.close()
    return result
