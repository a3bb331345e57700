"""What every chat adapter is and what its platform can do, and what they share.

An adapter translates one platform: its events become ``Incoming`` for the engine, and
each ``Reply`` becomes a platform call. The web app mounts its routes and runs its
start and stop, and schedules each adapter's ``deliver_background`` (notices and card
refreshes) as a periodic job of the process's job queue. The engine and flows read
``Capabilities`` where platforms differ, never a platform's name.

Each adapter class registers itself (``@register``) with how to build it from the
settings and its own staff commands, so ``helpdesk serve`` and the ``helpdesk``
command find every platform without naming one: a new platform is a new module here.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from starlette.requests import Request
from starlette.routing import BaseRoute

from bot.types import Reply

if TYPE_CHECKING:
    import typer

    from bot.engine import Engine
    from bot.services import Services


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform lets a bot do."""

    # Replace a sent image in place (an ``Edit``); otherwise the new image follows.
    edits_images: bool
    # Remove a user's message (a pasted password); otherwise the user is told how.
    deletes_user_messages: bool
    # Buttons in one message, and characters of a button's label (None: no limit).
    max_buttons: int | None
    max_label_length: int | None
    # Characters of one text message.
    max_text_length: int | None
    # Images are sent as uploaded bytes; a platform that only fetches HTTPS URLs says False.
    images_by_bytes: bool = True


@runtime_checkable
class Adapter(Protocol):
    """One platform's side of the bot."""

    channel: str
    capabilities: Capabilities

    def routes(self) -> list[BaseRoute]:
        """The web routes the platform calls (webhooks); none for a polling adapter."""
        ...

    async def startup(self) -> None:
        """Prepare the platform client before the first request."""
        ...

    async def shutdown(self) -> None:
        """Close the platform client."""
        ...

    async def send(self, chat_id: str, replies: list[Reply]) -> None:
        """Deliver replies to one chat, in order."""
        ...

    async def deliver_background(self) -> None:
        """One round of this platform's chat notices and card refreshes (a periodic job)."""
        ...


class AdapterClass(Protocol):
    """What the wiring needs of an adapter's class: its name, how to build it, its commands."""

    @property
    def channel(self) -> str:
        """The platform's name, as in ``Incoming.channel``."""
        ...

    def from_settings(self, services: Services, engine: Engine) -> Adapter | None:
        """The adapter for the web app, or None when its settings are not given."""
        ...

    def commands(self) -> typer.Typer | None:
        """The platform's ``helpdesk <channel> ...`` command group, if it has one."""
        ...


AdapterClassT = TypeVar("AdapterClassT", bound=AdapterClass)
_REGISTERED: dict[str, AdapterClass] = {}


def register(cls: AdapterClassT) -> AdapterClassT:
    """Make an adapter class known to ``helpdesk serve`` and the ``helpdesk`` command."""
    _REGISTERED[cls.channel] = cls
    return cls


def registered() -> list[AdapterClass]:
    """Every adapter class in this package, by channel name."""
    package = importlib.import_module(__package__ or "bot.adapters")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return [_REGISTERED[name] for name in sorted(_REGISTERED)]


def configured(services: Services, engine: Engine) -> list[Adapter]:
    """The adapters whose settings are given, for the web app to serve."""
    adapters = (cls.from_settings(services, engine) for cls in registered())
    return [adapter for adapter in adapters if adapter is not None]


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None as soon as it is known to exceed ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before reading anything, and
    a body sent without one (chunked) is read only up to the limit, so an oversized
    request never sits whole in memory.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
