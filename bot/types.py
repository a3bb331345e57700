"""Neutral messages between adapters and the engine.

An adapter turns a platform event into an ``Incoming`` and each ``Reply`` into a
platform call; nothing here knows a platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Incoming:
    """One thing a user did: sent text or pressed a button."""

    channel: str
    user_id: str
    chat_id: str
    text: str | None = None
    action: str | None = None
    locale_hint: str | None = None
    delivery_id: str | None = None
    message_id: str | None = None
    private: bool = True
    # What the platform vouches for: the workspace, and the user's confirmed e-mail
    # (Slack); a profile that trusts the workspace links on it without a code.
    workspace: str | None = None
    verified_email: str | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    label: str
    action: str


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Choices:
    """A question with buttons; ``action`` is bound to the conversation's step."""

    text: str
    choices: tuple[Choice, ...]


@dataclass(frozen=True, slots=True)
class Image:
    """A PNG with a caption; ``key`` names it for a later in-place edit."""

    png: bytes
    caption: str
    key: str | None = None
    terminal_art: str | None = None
    choices: tuple[Choice, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace an earlier image reply (by ``key``) in place."""

    key: str
    image: Image


@dataclass(frozen=True, slots=True)
class DeleteUserMessage:
    """Remove the user's message (e.g. a pasted password) where the platform allows."""

    message_id: str | None


Reply = Text | Choices | Image | Edit | DeleteUserMessage
