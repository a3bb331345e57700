"""Section 1: a Telegram turn, ours against python-telegram-bot's and aiogram's own FSMs.

The flow is the student-ID lookup's first three steps, each one update and one reply:
"1" at the menu starts it and asks the degree programme (a message with 4 buttons),
"2" picks the master's programme and asks the ID number, the ID number is checked
(check digit, keyed hash) and the birthday is asked. Each chat first gets "/start"
(the menu), untimed; every conversation is a new chat.

- ours: the update is POSTed to our ASGI app's ``/telegram/webhook`` in this process
  (secret token, ``Update.de_json``, ``Application.process_update``, our handler, the
  engine: delivery deduped, the chat's state row locked, one step, the new state and
  its version stored, one transaction), and the reply goes out through the adapter's
  python-telegram-bot ``Bot`` to the stand-in.
- ptb: the same three states as a ``ConversationHandler`` (state in memory), fed the
  same updates through ``Application.process_update``; each handler sends one message.
- aiogram: the same three states with aiogram 3's FSM and ``MemoryStorage``, fed the
  same updates through ``Dispatcher.feed_raw_update``; each handler sends one message.
- aiogram + Redis: the same, with ``RedisStorage`` (Redis on 127.0.0.1:6379): the
  durable peer, which like ours stores every step outside the process.

All three run in this process, one after another, against the same stand-in process.
The peers do the same domain work per step as ours (the ID number's check digit and
keyed hash), so what differs is the framework and our persistence.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("PTB_TIMEDELTA", "true")

from sqlalchemy import func, select
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bench.common import (
    TOKEN,
    WEBHOOK_SECRET,
    Databases,
    Figure,
    asgi_post,
    closed_loop,
    ms,
    percentile,
    settings_for,
    stand_in_stats,
    turn_figures,
)
from bot import conversations  # noqa: F401  (registers the flows)
from bot.adapters.telegram import SECRET_HEADER, TelegramAdapter
from bot.engine import Engine
from bot.services import build_services
from bot.web import create_app
from core.idnumbers import parse_id_number
from core.models import ConversationState
from core.pii import PiiHasher

ID_NUMBER = "A128573490"  # 林明志 of the demo directory (checksum-valid, fictional)
TURNS = ("1", "2", ID_NUMBER)
Turn = Callable[[bytes], Awaitable[None]]
_update_ids = itertools.count(1)
_chat_ids = itertools.count(10_000_000)


def update(chat_id: int, text: str) -> bytes:
    """A private-chat text message, as Telegram POSTs it to a webhook."""
    person = {"id": chat_id, "is_bot": False, "first_name": "Bench", "language_code": "en"}
    return json.dumps(
        {
            "update_id": next(_update_ids),
            "message": {
                "message_id": next(_update_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "Bench"},
                "from": person,
                "text": text,
            },
        }
    ).encode()


def conversations_for(count: int) -> tuple[list[list[bytes]], list[list[bytes]], list[int]]:
    """``count`` new chats: their untimed "/start", and their three timed updates."""
    chats = [next(_chat_ids) for _ in range(count)]
    setup = [[update(chat, "/start")] for chat in chats]
    timed = [[update(chat, text) for text in TURNS] for chat in chats]
    return setup, timed, chats


# -- ours ---------------------------------------------------------------------------------


@asynccontextmanager
async def ours(
    database_url: str, api: str, home: Path, *, shipped: bool = False
) -> AsyncIterator[Any]:
    """Our webhook path; yields (turn, services).

    ``shipped=False`` sets the replies' limiter to no overall limit (as the adapter now
    builds it: a turn's replies are not paced, background messages go through a paced
    client of their own); ``shipped=True`` measures the adapter exactly as built.
    """
    settings = settings_for(database_url, home, telegram_api_url=f"{api}/bot")
    services = build_services(settings)
    adapter = TelegramAdapter.build(services, Engine(services))
    if not shipped:
        adapter.application.bot._rate_limiter = AIORateLimiter(overall_max_rate=0, max_retries=3)
    await adapter.application.initialize()
    app = create_app(services, adapters=[adapter])
    headers = {"content-type": "application/json", SECRET_HEADER: WEBHOOK_SECRET}

    async def turn(body: bytes) -> None:
        status = await asgi_post(app, "/telegram/webhook", body, headers)
        if status != 200:
            raise RuntimeError(f"webhook answered {status}")

    try:
        yield turn, services
    finally:
        await adapter.application.shutdown()
        await services.close()


# -- python-telegram-bot's ConversationHandler ------------------------------------------------

LEVEL, ID_STATE, BIRTHDAY = range(3)
MENU = [
    "Look up my student ID",
    "I forgot my password",
    "Change my password",
    "My mailbox status",
    "My alumni card",
    "Link this chat to my account",
    "Language / 語言",
    "Help",
]
LEVELS = [
    ("bachelor", "Bachelor's programme"),
    ("master", "Master's programme"),
    ("doctoral", "Doctoral programme"),
    ("continuing", "Continuing-education bachelor's programme"),
]
ASK_LEVEL = "Which degree programme were you admitted to?"
ASK_ID = (
    "Please type your national ID number (身分證字號), or your resident certificate "
    "number (居留證號) if you hold one."
)
ASK_BIRTHDAY = "Please type your birthday, for example 1996-01-02, or in the ROC calendar 85/01/02."
PII = PiiHasher(b"bench-peer-key-0123456789abcdef")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _ptb_keyboard(labels: list[str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=f"x:{n}")] for n, label in enumerate(labels)]
    )


@asynccontextmanager
async def ptb_peer(api: str) -> AsyncIterator[Turn]:
    """The flow as python-telegram-bot's ConversationHandler, state in memory."""
    menu = _ptb_keyboard(MENU)
    levels = _ptb_keyboard([label for _, label in LEVELS])
    codes = {str(n): code for n, (code, _) in enumerate(LEVELS, 1)}

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None
        await update.message.reply_text("What can I help you with?", reply_markup=menu)
        return ConversationHandler.END

    async def entry(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None
        await update.message.reply_text(ASK_LEVEL, reply_markup=levels)
        return LEVEL

    async def level(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None and context.user_data is not None
        context.user_data["level"] = codes.get(update.message.text or "")
        await update.message.reply_text(ASK_ID)
        return ID_STATE

    async def id_number(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None and context.user_data is not None
        number = parse_id_number(update.message.text or "")
        context.user_data["id_hash"] = PII.id_number(number.value)
        await update.message.reply_text(ASK_BIRTHDAY)
        return BIRTHDAY

    async def birthday(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        return ConversationHandler.END

    text = filters.TEXT & ~filters.COMMAND
    conversation = ConversationHandler(
        entry_points=[MessageHandler(filters.Regex(r"^1$"), entry)],
        states={
            LEVEL: [MessageHandler(text, level)],
            ID_STATE: [MessageHandler(text, id_number)],
            BIRTHDAY: [MessageHandler(text, birthday)],
        },
        fallbacks=[CommandHandler("start", start)],
    )
    application = ApplicationBuilder().token(TOKEN).base_url(f"{api}/bot").updater(None).build()
    application.add_handler(CommandHandler("start", start))
    application.add_handler(conversation)
    await application.initialize()

    async def turn(body: bytes) -> None:
        await application.process_update(Update.de_json(json.loads(body), application.bot))

    try:
        yield turn
    finally:
        await application.shutdown()


# -- aiogram 3 FSM ----------------------------------------------------------------------------


@asynccontextmanager
async def aiogram_peer(api: str, *, redis: bool = False) -> AsyncIterator[Turn]:
    """The flow with aiogram 3's FSM and MemoryStorage, or RedisStorage (``redis``).

    RedisStorage is the durable peer: like ours it persists every step (to Redis on
    127.0.0.1:6379, under a key prefix of this run that is deleted afterwards).
    """
    from aiogram import Bot, Dispatcher, F, Router
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.filters import Command, StateFilter
    from aiogram.fsm.context import FSMContext
    from aiogram.fsm.state import State, StatesGroup
    from aiogram.fsm.storage.memory import MemoryStorage
    from aiogram.fsm.storage.redis import RedisStorage
    from aiogram.types import InlineKeyboardButton as Button
    from aiogram.types import InlineKeyboardMarkup as Markup
    from aiogram.types import Message

    class Lookup(StatesGroup):
        level = State()
        id_number = State()
        birthday = State()

    def keyboard(labels: list[str]) -> Markup:
        return Markup(
            inline_keyboard=[
                [Button(text=label, callback_data=f"x:{n}")] for n, label in enumerate(labels)
            ]
        )

    menu = keyboard(MENU)
    levels = keyboard([label for _, label in LEVELS])
    codes = {str(n): code for n, (code, _) in enumerate(LEVELS, 1)}
    router = Router()

    @router.message(Command("start"))
    async def start(message: Message, state: FSMContext) -> None:
        await state.clear()
        await message.answer("What can I help you with?", reply_markup=menu)

    @router.message(StateFilter(None), F.text == "1")
    async def entry(message: Message, state: FSMContext) -> None:
        await state.set_state(Lookup.level)
        await message.answer(ASK_LEVEL, reply_markup=levels)

    @router.message(Lookup.level)
    async def level(message: Message, state: FSMContext) -> None:
        await state.update_data(level=codes.get(message.text or ""))
        await state.set_state(Lookup.id_number)
        await message.answer(ASK_ID)

    @router.message(Lookup.id_number)
    async def id_number(message: Message, state: FSMContext) -> None:
        number = parse_id_number(message.text or "")
        await state.update_data(id_hash=PII.id_number(number.value))
        await state.set_state(Lookup.birthday)
        await message.answer(ASK_BIRTHDAY)

    storage: RedisStorage | MemoryStorage
    prefix = f"helpdesk-bench-{os.getpid()}-{time.monotonic_ns()}"
    if redis:
        from aiogram.fsm.storage.base import DefaultKeyBuilder
        from redis.asyncio import Redis

        storage = RedisStorage(
            Redis.from_url(REDIS_URL), key_builder=DefaultKeyBuilder(prefix=prefix)
        )
    else:
        storage = MemoryStorage()
    dispatcher = Dispatcher(storage=storage)
    dispatcher.include_router(router)
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api)))

    async def turn(body: bytes) -> None:
        await dispatcher.feed_raw_update(bot, json.loads(body))

    try:
        yield turn
    finally:
        await bot.session.close()
        if isinstance(storage, RedisStorage):
            client = storage.redis
            keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
            if keys:
                await client.delete(*keys)
        await storage.close()


@asynccontextmanager
async def aiogram_redis_peer(api: str) -> AsyncIterator[Turn]:
    async with aiogram_peer(api, redis=True) as turn:
        yield turn


# (name, where its state lives, peer)
PEERS: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("ptb", "memory", ptb_peer),
    ("aiogram", "memory", aiogram_peer),
    ("aiogram", "redis", aiogram_redis_peer),
)


# -- one run ------------------------------------------------------------------------------------


async def run_once(
    turn: Turn, api: str, *, chats: int, concurrency: int, deadline: float
) -> dict[str, Any]:
    """Set up ``chats`` new chats (untimed), then time their three turns each."""
    setup, timed, _ = conversations_for(chats)
    await closed_loop(setup, turn, concurrency=concurrency, deadline=deadline)
    await stand_in_stats(api, reset=True)
    elapsed, latencies = await closed_loop(timed, turn, concurrency=concurrency, deadline=deadline)
    return await turn_figures(api, elapsed, latencies)


async def states_at_birthday(services: Any) -> int:
    async with services.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(ConversationState)
            .where(ConversationState.flow == "student_id", ConversationState.state == "birthday")
        )
        return int(count or 0)


async def run_open(turn: Turn, api: str, *, rate: float, seconds: float) -> dict[str, Any]:
    """Updates arriving at ``rate`` a second whether or not earlier ones were answered.

    ``rate * seconds / 3`` chats each send their three turns ``seconds / 3`` apart. A
    chat's next update waits for the answer to its previous one if that is late (a
    person answers the question they were asked), and its latency still counts from
    when it was due, so a slow answer is never hidden.
    """
    chats = int(rate * seconds / len(TURNS))
    setup, timed, _ = conversations_for(chats)
    await closed_loop(setup, turn, concurrency=32, deadline=60.0)
    await stand_in_stats(api, reset=True)
    latencies: list[float] = []
    start = time.perf_counter() + 0.05

    async def chat(n: int) -> None:
        for step, body in enumerate(timed[n]):
            due = start + (step * chats + n) / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await turn(body)
            latencies.append(time.perf_counter() - due)

    async with asyncio.timeout(seconds + 60.0):
        await asyncio.gather(*(chat(n) for n in range(chats)))
    stats = await stand_in_stats(api)
    if stats["errors"] or stats["calls"].get("sendMessage", 0) != len(latencies):
        raise RuntimeError(f"expected one reply per turn: {len(latencies)} turns, {stats}")
    return {
        "updates": len(latencies),
        "seconds": seconds,
        "updates_per_s": rate,
        "p50_ms": percentile(ms(latencies), 50),
        "p99_ms": percentile(ms(latencies), 99),
    }


class Results:
    """Figures per (bot, database, mode)."""

    def __init__(self) -> None:
        self.figures: dict[tuple[str, str, str], dict[str, Figure]] = {}

    def add(self, key: tuple[str, str, str], run: dict[str, Any]) -> None:
        slot = self.figures.setdefault(
            key, {"updates_per_s": Figure(), "p50_ms": Figure(), "p99_ms": Figure()}
        )
        for name, figure in slot.items():
            figure.add(run[name])


async def measure(
    dbs: Databases,
    api: str,
    home: Path,
    *,
    runs: int,
    sequential_chats: int,
    concurrent_chats: int,
    open_rate: float = 200.0,
    open_seconds: float = 2.0,
    concurrency: int = 32,
    deadline: float = 20.0,
    log: Callable[[str], None] = print,
) -> Results:
    """Every configuration ``runs`` times, interleaved, so drift hits them alike."""
    results = Results()
    modes = (
        ("sequential", 1, sequential_chats),
        ("32 chats", concurrency, concurrent_chats),
        (f"{open_rate:.0f}/s offered", 0, 0),
    )

    async def one(turn: Turn, workers: int, chats: int) -> dict[str, Any]:
        if workers == 0:
            return await run_open(turn, api, rate=open_rate, seconds=open_seconds)
        return await run_once(turn, api, chats=chats, concurrency=workers, deadline=deadline)

    for n in range(runs):
        for mode, workers, chats in modes:
            for kind in ("sqlite", "postgresql"):
                url = await dbs.fresh(kind)
                async with ours(url, api, home) as (turn, services):
                    run = await one(turn, workers, chats)
                    at_birthday = await states_at_birthday(services)
                if at_birthday != run["updates"] // 3:
                    raise RuntimeError(f"{at_birthday} chats stored at the birthday step")
                results.add(("ours", kind, mode), run)
                log(f"  run {n + 1} ours {kind} {mode}: {_brief(run)}")
            for name, store, peer in PEERS:
                async with peer(api) as turn:
                    run = await one(turn, workers, chats)
                results.add((name, store, mode), run)
                log(f"  run {n + 1} {name} {store} {mode}: {_brief(run)}")
    return results


async def measure_shipped(
    dbs: Databases, api: str, home: Path, *, chats: int, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """One bounded run of the adapter exactly as built."""
    url = await dbs.fresh("postgresql")
    async with ours(url, api, home, shipped=True) as (turn, _services):
        run = await run_once(turn, api, chats=chats, concurrency=32, deadline=30.0)
    log(f"  ours as shipped, postgresql, 32 chats: {_brief(run)}")
    return run


def _brief(run: dict[str, Any]) -> str:
    return (
        f"{run['updates']} updates, {run['updates_per_s']:.0f}/s, "
        f"p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms"
    )


# -- conformance: the same bots against the spec-checking stub -----------------------------------


async def conformance(dbs: Databases, home: Path) -> dict[str, Any]:
    """A few conversations of each bot against ``tests/telegram_stub.BotApiStub``.

    The stub checks every call against the published Bot API description; the light
    stand-in used for timing must not let through anything the real API would refuse.
    Also checks that a redelivered update is answered once (ours dedupes).
    """
    from tests.telegram_stub import BotApiStub

    out: dict[str, Any] = {}
    async with BotApiStub.running() as stub:
        api = stub.base_url.removesuffix("/bot")
        setup, timed, _ = conversations_for(3)
        url = await dbs.fresh("postgresql")
        async with ours(url, api, home) as (turn, _services):
            for stream in [*setup, *timed]:
                for body in stream:
                    await turn(body)
            before = len(stub.calls_to("sendMessage"))
            await turn(timed[0][0])  # a redelivery: Telegram retries a webhook it thinks failed
            redelivered_replies = len(stub.calls_to("sendMessage")) - before
        out["ours"] = {"calls": len(stub.calls), "redelivery_replies": redelivered_replies}
        for name, peer in (("ptb", ptb_peer), ("aiogram", aiogram_peer)):
            before = len(stub.calls)
            setup, timed, _ = conversations_for(3)
            async with peer(api) as turn:
                for stream in [*setup, *timed]:
                    for body in stream:
                        await turn(body)
            out[name] = {"calls": len(stub.calls) - before}
        out["violations"] = list(stub.violations)
    if out["violations"] or out["ours"]["redelivery_replies"] != 0:
        raise RuntimeError(f"conformance failed: {out}")
    return out
