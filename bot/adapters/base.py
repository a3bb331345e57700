"""What every chat adapter is and what its platform can do, and what they share.

An adapter translates one platform: its events become ``Incoming`` for the engine, and
each ``Reply`` becomes a platform call. The web app mounts its routes and runs its
start, stop and background delivery; the engine and flows read ``Capabilities`` where
platforms differ, never a platform's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from starlette.requests import Request
from starlette.routing import BaseRoute

from bot.types import Reply


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

    async def run_background(self, interval: float = 1.0) -> None:
        """Deliver chat notices and card refreshes for this platform until cancelled."""
        ...


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
