"""Chats driven through the real engine, and copies of the state one of them reached.

The long runs (fuzzing, enumeration, brute force) need thousands of chats standing in
a given state of a flow. ``replay`` takes a fresh chat there message by message, as a
user would; ``clone`` gives a fresh chat the very row the engine stored for that state
(flow, state, data, nonce, version) and the same link to a person, so the next message
is handled exactly as it would be after the real route, at the cost of one insert.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.engine import Engine
from bot.flow import CHOICES_KEY
from bot.services import Services
from bot.types import Choices, Edit, Image, Incoming, Reply
from core.models import ChatIdentity, ConversationState

MENU = ("menu", "-")


@dataclass(frozen=True, slots=True)
class Op:
    """One thing a user does: ``link`` (before the first message: a linked chat),
    ``say`` a text, or ``press`` the button offered with this value."""

    kind: str
    value: str


Route = tuple[Op, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A conversation as the engine stored it, and its chat identity."""

    flow: str | None
    state: str | None
    data: dict[str, Any]
    nonce: str
    version: int
    person_id: int | None
    locale: str | None

    @property
    def position(self) -> tuple[str, str]:
        return (self.flow, self.state or "-") if self.flow else MENU

    @property
    def offered(self) -> list[str]:
        return [value for value, _label in self.data.get(CHOICES_KEY, [])]


_deliveries = itertools.count(1)


class ChatDriver:
    """Fresh chats of one channel on a real engine."""

    def __init__(
        self, engine: Engine, services: Services, *, channel: str, people: dict[str, int]
    ) -> None:
        self.engine = engine
        self.services = services
        self.channel = channel
        self.people = people
        self._chats = itertools.count(1)

    def new_chat(self) -> str:
        return f"{self.channel}{next(self._chats)}"

    def incoming(
        self,
        chat: str,
        *,
        text: str | None = None,
        action: str | None = None,
        hint: str | None = "en",
    ) -> Incoming:
        number = next(_deliveries)
        return Incoming(
            channel=self.channel,
            user_id=chat,
            chat_id=chat,
            text=text,
            action=action,
            locale_hint=hint,
            delivery_id=f"{self.channel}-{number}",
            message_id=str(number),
        )

    async def send(
        self,
        chat: str,
        *,
        text: str | None = None,
        action: str | None = None,
        hint: str | None = "en",
    ) -> list[Reply]:
        return await self.engine.handle(self.incoming(chat, text=text, action=action, hint=hint))

    async def snapshot(self, chat: str) -> Snapshot:
        async with self.services.sessions() as session:
            row = await session.get(ConversationState, (self.channel, chat), populate_existing=True)
            identity = await session.scalar(
                select(ChatIdentity).where(
                    ChatIdentity.channel == self.channel, ChatIdentity.platform_user_id == chat
                )
            )
        assert row is not None and identity is not None
        return Snapshot(
            row.flow,
            row.state,
            dict(row.data),
            row.nonce,
            row.version,
            identity.person_id,
            identity.locale,
        )

    async def _identity(self, chat: str, person_id: int | None, locale: str | None) -> None:
        now = self.services.clock.now()
        async with self.services.sessions() as session, session.begin():
            session.add(
                ChatIdentity(
                    channel=self.channel,
                    platform_user_id=chat,
                    person_id=person_id,
                    linked_at=now if person_id is not None else None,
                    locale=locale,
                    # A stored language stands for one the user chose: no hint overrides it.
                    locale_chosen=locale is not None,
                    created_at=now,
                )
            )

    async def replay(self, route: Route, *, hint: str | None = "en") -> tuple[str, Snapshot]:
        """A fresh chat taken along ``route`` through the engine."""
        chat = self.new_chat()
        replies: list[Reply] = []
        for op in route:
            if op.kind == "link":
                await self._identity(chat, self.people[op.value], None)
            elif op.kind == "say":
                replies = await self.send(chat, text=op.value, hint=hint)
            else:
                replies = await self.send(chat, action=action_for(replies, op.value), hint=hint)
        return chat, await self.snapshot(chat)

    async def clone(self, snap: Snapshot, *, locale: str | None = None) -> str:
        """A fresh chat in the stored state ``snap``, linked to the same person."""
        chat = self.new_chat()
        await self._identity(chat, snap.person_id, locale)
        async with self.services.sessions() as session, session.begin():
            session.add(
                ConversationState(
                    channel=self.channel,
                    chat_id=chat,
                    flow=snap.flow,
                    state=snap.state,
                    data=json.loads(json.dumps(snap.data)),
                    nonce=snap.nonce,
                    version=snap.version,
                    updated_at=self.services.clock.now(),
                )
            )
        return chat


def action_for(replies: list[Reply], value: str) -> str:
    """The payload of the latest button offered with ``value``."""
    for reply in reversed(replies):
        if isinstance(reply, Choices | Image):
            choices = reply.choices
        elif isinstance(reply, Edit):
            choices = reply.image.choices
        else:
            continue
        for choice in choices:
            if choice.action.partition(":")[2] == value:
                return choice.action
    raise AssertionError(f"no button with the value {value!r} was offered")
