"""What a conversation flow is, and the registry the menu is built from.

A flow is a state machine declared as data: its ``states`` (a StrEnum), a ``prompt``
that asks each state's question, and a ``handle`` that reads an answer and returns the
next state (python-telegram-bot's ConversationHandler style, with the state kept in
the database by the engine instead of in one process's memory).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import Services
from bot.types import Choice, Choices, Incoming, Reply
from core import audit
from core.i18n import Translator
from core.models import AuditEvent, ChatIdentity

CHOICES_KEY = "_choices"
CHOICE_WORDS_KEY = "_choice_words"  # synonyms of the offered choices, by value


@dataclass(frozen=True, slots=True)
class Answer:
    """The user's answer to the current question: a choice value or free text."""

    text: str | None = None
    choice: str | None = None


@dataclass(slots=True)
class Step:
    """What a flow does next: go to ``next`` (None ends the flow) after ``replies``."""

    next: str | None
    replies: list[Reply] = field(default_factory=list)
    show_menu: bool = True
    then: str | None = None
    ask: bool = True  # ask the next state's question after the replies

    @classmethod
    def stay(cls, state: str, *replies: Reply) -> Step:
        """Stay in ``state`` without asking again (the replies already do)."""
        return cls(state, list(replies), ask=False)

    @classmethod
    def goto(cls, state: str, *replies: Reply) -> Step:
        return cls(state, list(replies))

    @classmethod
    def done(cls, *replies: Reply, show_menu: bool = True, then: str | None = None) -> Step:
        """End the flow; ``then`` names a flow to start next (e.g. after linking)."""
        return cls(None, list(replies), show_menu, then)


@dataclass
class Context:
    """One step's view of the world: the transaction, the user, their language."""

    session: AsyncSession
    services: Services
    incoming: Incoming
    identity: ChatIdentity
    translator: Translator
    nonce: str
    data: dict[str, Any]
    flow: str = ""  # the flow this step runs, set by the engine; named in audit events
    prepared: dict[str, Any] = field(default_factory=dict)  # what ``Flow.prepare`` made

    @property
    def locale(self) -> str:
        return self.translator.locale

    @property
    def actor(self) -> str:
        return self.services.pii.chat_user(self.incoming.channel, self.incoming.user_id)

    def _(self, msgid: str, **params: Any) -> str:
        return self.translator._(msgid, **params)

    def audit(self, action: str, outcome: str, **detail: Any) -> AuditEvent:
        """Record what this chat user did in this flow, in the step's transaction."""
        return audit.record(
            self.session,
            at=self.services.clock.now(),
            channel=self.incoming.channel,
            actor=self.actor,
            flow=self.flow,
            action=action,
            outcome=outcome,
            **detail,
        )

    def ngettext(self, singular: str, plural: str, n: int, **params: Any) -> str:
        return self.translator.ngettext(singular, plural, n, **params)

    def choices(
        self,
        text: str,
        options: Sequence[tuple[str, str]],
        synonyms: Mapping[str, Sequence[str]] | None = None,
    ) -> Choices:
        """A question with buttons bound to this step.

        Typed answers work too: the option's number, its label, one of its ``synonyms``
        (by value: other words people type for it, in either language), or a part of
        exactly one label ("碩士" for 碩士班).
        """
        self.data[CHOICES_KEY] = [[value, label] for value, label in options]
        words = {
            value: list(synonyms[value]) for value, _ in options if synonyms and value in synonyms
        }
        if words:
            self.data[CHOICE_WORDS_KEY] = words
        else:
            self.data.pop(CHOICE_WORDS_KEY, None)
        return Choices(
            text, tuple(Choice(label, f"{self.nonce}:{value}") for value, label in options)
        )


class Flow(ABC):
    """One conversation, registered under ``name`` and listed in the menu by ``title``."""

    name: ClassVar[str]
    title: ClassVar[str]
    states: ClassVar[type[StrEnum]]  # every state the flow can be in; the engine checks
    order: ClassVar[int] = 100
    in_menu: ClassVar[bool] = True
    needs_link: ClassVar[bool] = False  # the chat must be linked to a directory person

    @abstractmethod
    async def start(self, ctx: Context) -> Step:
        """Begin the flow; return its first state."""

    @abstractmethod
    async def prompt(self, ctx: Context, state: str) -> list[Reply]:
        """Ask the question of ``state`` (again)."""

    @abstractmethod
    async def handle(self, ctx: Context, state: str, answer: Answer) -> Step:
        """Read the answer to ``state``'s question and decide what comes next."""

    async def prepare(self, services: Services, state: str, text: str) -> dict[str, Any]:
        """Slow work a typed answer needs (hashing), done before the step's transaction.

        The engine runs it outside any transaction and hands the result to ``handle``
        as ``ctx.prepared``, but only if the conversation is still in ``state``.
        """
        return {}


REGISTRY: dict[str, Flow] = {}
F = TypeVar("F", bound=type[Flow])


def register(cls: F) -> F:
    """Class decorator: add a flow to the menu."""
    if cls.name in REGISTRY:
        raise ValueError(f"flow {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls()
    return cls


def menu_flows() -> list[Flow]:
    return sorted((f for f in REGISTRY.values() if f.in_menu), key=lambda f: (f.order, f.name))
