"""Fuzzing: every state of every flow gets hostile input, and the engine stays sound.

For each state of each registered flow (and the menu), an explorer finds a way there
through the real engine (pressing the buttons offered, typing plausible answers), the
conversation is brought there, and hypothesis sends it arbitrary Unicode (emoji,
zero-width and bidirectional marks, full-width forms, lone surrogates), texts of
100 KB and more, control characters, commands, forged and stale button payloads,
empty messages and pauses longer than the conversation timeout. After every message:

- no exception escaped the engine, and it did not answer "temporarily unavailable"
  (the database is up: that answer would hide an error);
- there is an answer, every text in it is non-empty and fits one chat message;
- every answer is in the user's language: it contains none of the other language's
  catalog texts (fragments of the other catalog that the user's catalog does not also
  contain), once the data the answer may quote (names, notices, what the user typed)
  is taken out; a language switch changes the language from its confirmation on;
- the stored state is valid: the flow is registered and the state is one of its
  declared ``states``, the data is a JSON object, the version went up by exactly one.

Each example starts from a copy of the state the explorer reached (the same row the
engine stored, under a new chat), so examples are independent and cheap. The number
of examples per state is ``HELPDESK_FUZZ_EXAMPLES`` (default 8); CI keeps the default,
a longer run sets it higher.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import unicodedata
from collections.abc import Iterable
from functools import cache
from typing import Any

import pytest
from babel.messages.pofile import read_po
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlalchemy import update

from bot.engine import LANGUAGE_NAMES, Engine
from bot.flow import CHOICES_KEY, REGISTRY, Flow
from bot.services import Services
from bot.types import Choices, DeleteUserMessage, Edit, Image, Reply, Text
from core.cards import CardCipher, issue_card
from core.clock import FakeClock
from core.i18n import DEFAULT_LOCALE, LOCALES, Translator, normalise_locale
from core.localized import LocalizedText
from core.models import Account, Mailbox, Person
from core.profiles import load_profile
from core.resources import data_dir
from tests.factories import add_student
from tests.reliability.fast_db import database_url  # noqa: F401  (SQLite on tmpfs)
from tests.reliability.stored_chats import MENU, ChatDriver, Op, Route, Snapshot

EXAMPLES = int(os.environ.get("HELPDESK_FUZZ_EXAMPLES", "8"))
CHANNEL = "fuzz"
MAX_MESSAGE = 4096  # Telegram's limit for one message; the adapters cut longer texts

# -- the directory the fuzzed chats may be linked to --------------------------------------

NOTICE = "各位：最近發現您的信箱帳號有 SMTPAUTH 疑似異常登入，因此暫停您的帳號。"
REASON = "疑似異常登入 / Suspected abnormal login"
PEOPLE: dict[str, dict[str, Any]] = {
    # An enrolled student with a portal account and a working mailbox: mailbox status,
    # a new mailbox, no alumni card yet.
    "lin": {
        "id_number": "A128573490",
        "birthday": dt.date(2001, 3, 14),
        "student_id": "211303001",
        "name_zh": "林明志",
        "name_en": "Lin Ming-Zhi",
        "with_account": True,
    },
    # A suspended mailbox with a notice to read.
    "chen": {
        "id_number": "B226034180",
        "birthday": dt.date(2004, 7, 22),
        "student_id": "111201002",
        "name_zh": "陳怡君",
        "name_en": "Chen Yi-Jun",
    },
    # An alumnus with an active card.
    "wang": {
        "id_number": "F107493269",
        "birthday": dt.date(1985, 11, 5),
        "student_id": "109205003",
        "name_zh": "王大同",
        "name_en": "Wang Da-Tong",
    },
}

# Answers the explorer types where a state asks for text (no buttons): together they
# answer every question the flows ask today. A new question may need a new one here.
PLAUSIBLE = (
    "211303001",
    "A128573490",
    "F131104093",
    "2001-03-14",
    "林明志",
    "Lin Ming-Zhi",
    "資訊工程學系",
    "2015",
    "2019",
    "0912-345-678",
    "lin@example.org",
    "臺北市大安區基隆路四段43號",
    "123456",
)

# States that a flow's module declares but that flow never enters.
NOT_ENTERED = {
    ("change_password", "id_number"): "a change link needs no ID number",
    # Reached only with the code from the mail, which the explorer cannot read; its
    # answers are tested in tests/bot/conversations/test_link.py.
    ("link", "change_now"): "linking succeeds only with the mailed code",
    # Reached only with a case already open (a second "Talk to a person", or staff
    # closing the case): the explorer's routes start from the menu, which it has seen
    # before the case opened, so it never goes on from there. Their answers are tested
    # in tests/bot/conversations/test_handoff.py.
    ("handoff", "open"): "entered only while a case is open",
    ("handoff_end", "rate"): "entered only when staff close a case",
}


def _states_of(flow: Flow) -> set[str]:
    return {member.value for member in flow.states}


def _positions() -> list[tuple[str, str]]:
    positions = [MENU]
    for name, flow in sorted(REGISTRY.items()):
        for state in sorted(_states_of(flow)):
            if (name, state) not in NOT_ENTERED:
                positions.append((name, state))
    return positions


# -- driving the engine ----------------------------------------------------------------------


class World(ChatDriver):
    """Chats of the fuzz channel, linked to the directory's people, brought to any state."""

    def __init__(self, engine: Engine, services: Services, people: dict[str, int]) -> None:
        super().__init__(engine, services, channel=CHANNEL, people=people)
        self._starts: dict[tuple[str, str], Snapshot] = {}

    async def start(self, position: tuple[str, str]) -> Snapshot:
        """The state at ``position``, reached through the engine once per test."""
        if position not in self._starts:
            routes = await _routes(self)
            if position not in routes:
                pytest.fail(
                    f"no route reaches {position[0]}/{position[1]}: pressing every button "
                    f"and typing {len(PLAUSIBLE)} plausible answers never got there. Add the "
                    "answer that state needs to PLAUSIBLE (or, if the flow never enters it, "
                    "to NOT_ENTERED)."
                )
            _chat, snap = await self.replay(routes[position])
            assert snap.position == position, f"the route to {position} ends at {snap.position}"
            self._starts[position] = snap
        return self._starts[position]


async def _directory(services: Services) -> dict[str, int]:
    people = {}
    for key, fields in PEOPLE.items():
        people[key] = (await add_student(services, **fields)).id
    now = services.clock.now()
    async with services.sessions() as session, session.begin():
        for key, address in (("lin", "lin@example.org"), ("chen", "chen@example.net")):
            person = await session.get(Person, people[key])
            assert person is not None
            person.notification_email = address
            await session.execute(
                update(Mailbox)
                .where(Mailbox.person_id == people[key])
                .values(notification_address=address, password_changed_at=now)
            )
        await session.execute(
            update(Mailbox)
            .where(Mailbox.person_id == people["chen"])
            .values(
                condition="suspended",
                suspended_reason=REASON,
                suspended_at=now - dt.timedelta(days=2),
                suspension_notice=NOTICE,
            )
        )
        # Lin's portal password was set by the school: linking offers to change it now.
        await session.execute(
            update(Account).where(Account.person_id == people["lin"]).values(must_change=True)
        )
        await issue_card(
            session,
            CardCipher(services.settings.card_fernet_key),
            person_id=people["wang"],
            card_type="electronic",
            valid_until=dt.date(2035, 12, 31),
            now=now,
        )
    return people


_ROUTES: dict[tuple[str, str], Route] = {}


async def _routes(world: World) -> dict[tuple[str, str], Route]:
    """Breadth-first: a shortest route to every state the explorer's inputs reach.

    A state with buttons is left by each button; a state without is answered with each
    plausible text. Each try runs on a copy of the stored state, so it costs one step.
    The routes are the same for every test's fresh directory, so they are found once.
    """
    if _ROUTES:
        return _ROUTES
    found: dict[tuple[str, str], Route] = {}
    queue: list[tuple[Route, Snapshot]] = []
    for person in (None, *PEOPLE):
        root: Route = ((Op("link", person),) if person else ()) + (Op("say", "/start"),)
        _chat, snap = await world.replay(root)
        found.setdefault(snap.position, root)
        queue.append((root, snap))
    while queue:
        route, snap = queue.pop(0)
        values = snap.offered
        tries = [Op("press", v) for v in values] if values else [Op("say", t) for t in PLAUSIBLE]
        for op in tries:
            chat = await world.clone(snap)
            if op.kind == "press":
                await world.send(chat, action=f"{snap.nonce}:{op.value}")
            else:
                await world.send(chat, text=op.value)
            after = await world.snapshot(chat)
            if after.flow is None or after.position in found:
                continue
            found[after.position] = (*route, op)
            queue.append(((*route, op), after))
    _ROUTES.update(found)
    return _ROUTES


@pytest.fixture
async def world(engine: Engine, services: Services) -> World:
    return World(engine, services, await _directory(services))


# -- what the answers must be ----------------------------------------------------------------

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_PLACEHOLDER_OR_LINE = re.compile(r"\{[^{}]*\}|\n")


def _profile_texts(value: object, locale: str) -> Iterable[str]:
    if isinstance(value, LocalizedText):
        yield value.get(locale)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _profile_texts(getattr(value, name), locale)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _profile_texts(item, locale)


@cache
def _texts(locale: str) -> tuple[str, ...]:
    """Everything the bot can say in ``locale`` from catalogs and the profile."""
    path = data_dir("locales") / locale / "LC_MESSAGES" / "helpdesk.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    texts: list[str] = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        # An untranslated entry is shown as its msgid, which is English.
        texts += [s or ids[min(i, len(ids) - 1)] for i, s in enumerate(strings)]
    texts += _profile_texts(load_profile("demo"), locale)
    return tuple(texts)


@cache
def _foreign_markers(locale: str) -> tuple[str, ...]:
    """Fragments of the other language's texts that no text of ``locale`` contains."""
    other = "en" if locale == "zh_TW" else "zh_TW"
    own = "\n".join(_texts(locale))
    markers = set()
    for text in _texts(other):
        for fragment in _PLACEHOLDER_OR_LINE.split(text):
            fragment = fragment.strip(" :：.。,，()（）")
            if fragment in own:
                continue
            if other == "zh_TW":
                telling = len(fragment) >= 2 and _HAN.search(fragment) is not None
            else:
                telling = len(fragment) >= 8 and len(_LATIN.findall(fragment)) >= 5
            if telling:
                markers.add(fragment)
    return tuple(sorted(markers, key=len, reverse=True))


def _data_strings() -> tuple[str, ...]:
    """What an answer may quote as data, in any language."""
    values: list[str] = [NOTICE, REASON, "Computer Science", *PLAUSIBLE]
    for fields in PEOPLE.values():
        values += [fields["name_zh"], fields["name_en"]]
    values += LANGUAGE_NAMES.values()
    return tuple(sorted(set(values), key=len, reverse=True))


def _visible(reply: Reply) -> list[str]:
    """The texts a user reads in a reply: messages, questions, button labels, captions."""
    match reply:
        case Text(text):
            return [text]
        case Choices(text, choices):
            return [text, *(choice.label for choice in choices)]
        case Image(caption=caption, choices=choices):
            return [caption, *(choice.label for choice in choices)]
        case Edit(image=image):
            return [image.caption, *(choice.label for choice in image.choices)]
    return []


def _strip_data(text: str, typed: Iterable[str]) -> str:
    for value in (*typed, *_data_strings()):
        if len(value) >= 2:
            text = text.replace(value, " ")
    return text


def check_localized(replies: list[Reply], locale: str, typed: list[str]) -> None:
    for reply in replies:
        for index, text in enumerate(_visible(reply)):
            bare = _strip_data(text, typed)
            # The message itself (not a button, which may be data such as an address)
            # is in the language, unless it is all data (a notice the staff wrote).
            if index == 0 and any(ch.isalpha() for ch in bare):
                language = _HAN if locale == "zh_TW" else _LATIN
                assert language.search(bare), f"a {locale} answer in another script: {text!r}"
            for marker in _foreign_markers(locale):
                assert marker not in bare, (
                    f"an answer to a {locale} user has the other language's text "
                    f"{marker!r}: {text[:300]!r}"
                )


def check_answer(replies: list[Reply], before: str, after: str, typed: list[str]) -> None:
    assert replies, "no answer"
    for reply in replies:
        if isinstance(reply, DeleteUserMessage):
            assert any(isinstance(r, Text) for r in replies), "a deletion without a word"
            continue
        if isinstance(reply, Choices):
            assert reply.choices, "a question with no button"
        texts = _visible(reply)
        assert texts and texts[0].strip(), f"an empty answer: {reply!r}"
        for text in texts:
            assert text.strip(), f"an empty text in {reply!r}"
            assert len(text) <= MAX_MESSAGE, f"an answer of {len(text)} characters"
            for locale in LOCALES:
                unavailable = Translator(locale)._(
                    "The service is temporarily unavailable. Nothing was changed; "
                    "please try again in a few minutes."
                )
                assert text != unavailable, "the engine hid an error as an outage"
    if before == after:
        check_localized(replies, after, typed)
        return
    # A language switch: its confirmation, and everything after it, is in the new one.
    confirmation = Text(Translator(after)._("Language set to English."))
    assert confirmation in replies, "the language changed without a confirmation"
    split = replies.index(confirmation)
    check_localized(replies[:split], before, typed)
    check_localized(replies[split:], after, typed)


def check_stored(snap: Snapshot, previous: Snapshot) -> None:
    assert snap.version == previous.version + 1, "the version did not go up by one"
    assert snap.locale in (None, *LOCALES)
    if snap.flow is None:
        assert snap.state is None
    else:
        assert snap.flow in REGISTRY, f"an unknown flow {snap.flow!r} was stored"
        assert snap.state in _states_of(REGISTRY[snap.flow]), f"{snap.flow}: {snap.state!r}"
    assert isinstance(snap.data, dict)
    assert json.loads(json.dumps(snap.data, allow_nan=False)) == snap.data
    for pair in snap.data.get(CHOICES_KEY, []):
        assert isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
    assert snap.nonce


def language_of(snap: Snapshot, hint: str | None) -> str:
    return snap.locale or normalise_locale(hint) or DEFAULT_LOCALE


# -- what hypothesis sends -------------------------------------------------------------------

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e"]
BIDI = [
    "\u200e",
    "\u200f",
    "\u061c",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
]
EMOJI = [
    "😀",
    "👩\u200d👩\u200d👧\u200d👦",
    "🇹🇼",
    "👍🏽",
    "🧑\u200d💻",
    "❤\ufe0f",
    "🔑",
    "\U0001f9ff",
]
FULL_WIDTH = [
    "Ａ１２８５７３４９０",
    "２１１３０３００１",
    "／ｓｔａｒｔ",
    "１",
    "９０／３／１４",
    "ｃａｎｃｅｌ",
]
CONTROL = [*map(chr, range(0x00, 0x20)), "\x7f", "\x85", "\u2028", "\u2029", "\ud800", "\udfff"]
COMBINING = ["e\u0301", "a" + "\u0336" * 30, "\u0e01\u0e34\u0e4a", "Z\u0351\u0352\u0357\u035b"]
MEANINGFUL = [
    *PLAUSIBLE,
    "/start",
    "/menu",
    "/cancel",
    "/help",
    "/language",
    "/language en",
    "/language 中文",
    "/language fr",
    "/unlink",
    "/start@helpdesk_bot",
    "取消",
    "選單",
    "語言",
    "1",
    "2",
    "3",
    "99",
    "0",
    "-1",
    "B10920500300",
    "a211303001@grad.demo.edu.tw",
    "90/3/14",
    "000000",
    "Abc-12345!xyz",
    "Correct-Horse-9!",
    "%s%n{0}{name}{institution}",
    "<script>alert(1)</script>",
    "'; DROP TABLE conversation_states; --",
    "null",
    "\\N",
    "",
    " ",
]
KNOWN_VALUES = [
    *(f"flow:{name}" for name in REGISTRY),
    *(f"cmd:{command}" for command in ("start", "help", "cancel", "language", "unlink", "")),
    "lang:en",
    "lang:zh_TW",
    "lang:fr",
    "flow:",
    "flow:flow:link",
    "master",
    "bachelor",
    "phd",
    "apply",
    "no",
    "refresh",
    "close",
    "done",
    "notice:1",
    "notice:2",
    "reset:1",
    "reset:2",
    "reset:999999",
    "reset:-1",
    "agree",
    "decline",
    "submit",
    "correct",
    "back",
    "accept",
    "more",
    "male",
    "name_zh",
    "address",
]

pieces = st.one_of(
    st.sampled_from(ZERO_WIDTH + BIDI + EMOJI + FULL_WIDTH + CONTROL + COMBINING + MEANINGFUL),
    st.text(st.characters(exclude_categories=()), max_size=12),
)
small_texts = st.lists(pieces, max_size=8).map("".join)
# 100 KB and more: a drawn motif repeated, so the size costs hypothesis nothing.
big_texts = st.builds(
    lambda motif, size: (motif * (size // len(motif) + 1))[:size],
    st.lists(pieces, min_size=1, max_size=4).map("".join).filter(bool),
    st.integers(100 * 1024, 110 * 1024),
)
texts = st.one_of(small_texts, small_texts, big_texts)
action_values = st.one_of(st.sampled_from(KNOWN_VALUES), small_texts, big_texts)
ops = st.one_of(
    st.tuples(st.just("say"), texts),
    st.tuples(st.just("press"), st.sampled_from(["current", "stale", "raw"]), action_values),
    st.tuples(st.just("offered"), st.integers(0, 40)),
    st.tuples(st.just("empty")),
    st.tuples(st.just("wait"), st.sampled_from([1, 11, 16, 61, 25 * 60])),
)
hints = st.sampled_from(["en", "zh-TW", "zh-Hant", "en-US", "ZH", "fr", "", None])
stored_locales = st.sampled_from([None, None, "en", "zh_TW"])


@pytest.mark.parametrize("position", _positions(), ids="/".join)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(hint=hints, stored_locale=stored_locales, sequence=st.lists(ops, min_size=1, max_size=4))
async def test_every_state_answers_hostile_input_localized_and_keeps_a_valid_state(
    world: World,
    clock: FakeClock,
    position: tuple[str, str],
    hint: str | None,
    stored_locale: str | None,
    sequence: list[tuple[Any, ...]],
) -> None:
    start = await world.start(position)
    chat = await world.clone(start, locale=stored_locale)
    previous = await world.snapshot(chat)
    typed: list[str] = []
    for op in sequence:
        kind = op[0]
        if kind == "wait":
            clock.advance(minutes=op[1])
            continue
        text = action = None
        if kind == "say":
            text = op[1]
            typed += [text, unicodedata.normalize("NFKC", text)]
        elif kind == "press":
            _kind, nonce_kind, value = op
            nonce = {"current": previous.nonce, "stale": start.nonce}.get(nonce_kind)
            action = value if nonce is None else f"{nonce}:{value}"
        elif kind == "offered" and previous.offered:
            action = f"{previous.nonce}:{previous.offered[op[1] % len(previous.offered)]}"
        replies = await world.send(chat, text=text, action=action, hint=hint)
        after = await world.snapshot(chat)
        check_stored(after, previous)
        check_answer(replies, language_of(previous, hint), language_of(after, hint), typed)
        previous = after


async def test_the_states_left_out_of_fuzzing_are_declared_and_never_entered(
    world: World,
) -> None:
    routes = await _routes(world)
    for name, state in NOT_ENTERED:
        assert name in REGISTRY and state in _states_of(REGISTRY[name]), (name, state)
        assert (name, state) not in routes, f"{name}/{state} is entered: fuzz it"
