"""A test double of a chat user: types text, presses buttons, reads replies."""

from __future__ import annotations

import itertools

from sqlalchemy import update

from bot.engine import Engine
from bot.services import Services
from bot.types import Choice, Choices, Edit, Image, Incoming, Reply, Text
from core.models import ChatIdentity

_deliveries = itertools.count(1)


class Chat:
    """One user of one channel talking to a real engine."""

    def __init__(
        self, engine: Engine, *, user: str, locale: str | None = "en", channel: str = "test"
    ) -> None:
        self.engine = engine
        self.user = user
        self.locale = locale
        self.channel = channel
        self.last: list[Reply] = []

    async def send(self, incoming: Incoming) -> list[Reply]:
        self.last = await self.engine.handle(incoming)
        return self.last

    def incoming(self, **fields: object) -> Incoming:
        base: dict[str, object] = {
            "channel": self.channel,
            "user_id": self.user,
            "chat_id": self.user,
            "locale_hint": self.locale,
            "delivery_id": f"d{next(_deliveries)}",
        }
        base.update(fields)
        return Incoming(**base)  # type: ignore[arg-type]

    async def say(self, text: str) -> list[Reply]:
        return await self.send(self.incoming(text=text))

    async def press(self, label: str) -> list[Reply]:
        """Press the button labelled ``label`` in the latest reply that has it."""
        return await self.send(self.incoming(action=self.action_for(label)))

    def _buttons(self) -> list[Choice]:
        buttons: list[Choice] = []
        for reply in self.last:
            if isinstance(reply, Choices | Image):
                buttons.extend(reply.choices)
            elif isinstance(reply, Edit):
                buttons.extend(reply.image.choices)
        return buttons

    def action_for(self, label: str) -> str:
        for choice in reversed(self._buttons()):
            if choice.label == label:
                return choice.action
        raise AssertionError(f"no button {label!r} in {self.labels()}")

    def labels(self) -> list[str]:
        return [choice.label for choice in self._buttons()]

    def text(self) -> str:
        """Everything the last replies said, as one string."""
        parts: list[str] = []
        for reply in self.last:
            if isinstance(reply, Text):
                parts.append(reply.text)
            elif isinstance(reply, Choices):
                parts.append(reply.text)
                parts.extend(choice.label for choice in reply.choices)
            elif isinstance(reply, Image):
                parts.append(reply.caption)
        return "\n".join(parts)


async def link_directly(services: Services, chat: Chat, person_id: int) -> None:
    """Start ``chat`` and link it to ``person_id`` as a finished linking would, without
    the code round trip (for tests about what a linked chat can do)."""
    await chat.say("/start")  # creates the chat identity
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(ChatIdentity)
            .where(ChatIdentity.platform_user_id == chat.user)
            .values(person_id=person_id, linked_at=services.clock.now())
        )
