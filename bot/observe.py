"""Each chat turn observed: its id and actor on every log line, its count and duration."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from bot.services import Services
from bot.types import Incoming, Reply
from core import logjson
from core.metrics import observe_turn


class _Handler(Protocol):
    services: Services


H = TypeVar("H", bound=_Handler)
Handle = Callable[[H, Incoming], Awaitable[list[Reply]]]


def observed(handle: Handle[H]) -> Handle[H]:
    """Wrap ``Engine.handle``: a turn context for the logs, then the turn's metrics.

    The outcome is ``handled`` when a step ran (``stepped``), ``duplicate`` for a
    redelivery skipped without a reply, ``refused`` when the engine answered without a
    step (a group chat, the database down) and ``error`` when it raised.
    """

    @functools.wraps(handle)
    async def wrapper(self: H, incoming: Incoming) -> list[Reply]:
        actor = self.services.pii.chat_user(incoming.channel, incoming.user_id)
        started = time.perf_counter()
        with logjson.turn(actor) as current:
            outcome = "error"
            try:
                replies = await handle(self, incoming)
                stepped = current.stepped
                outcome = "handled" if stepped else "refused" if replies else "duplicate"
                return replies
            finally:
                observe_turn(incoming.channel, current.flow, outcome, time.perf_counter() - started)

    return wrapper


def stepped(flow: str | None) -> None:
    """Note that the current turn ran a step of ``flow`` (``None``: the menu)."""
    current = logjson.current_turn()
    if current is not None:
        current.stepped = True
        current.flow = flow or "menu"
