"""Neutral replies as LINE message objects, within LINE's limits.

Choices become quick replies (at most 13, labels at most 20 characters). Quick replies
show only under the last message of a batch, and a long label would be cut, so when
any choice would not show whole its number is written in the text: typed numbers
answer as on the console. Consecutive texts are joined, so a turn stays within the 5
messages one reply may carry; text longer than 5,000 characters is split.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from linebot.v3.messaging import (
    ImageMessage,
    PostbackAction,
    QuickReply,
    QuickReplyItem,
    TextMessage,
)

from bot.types import Choice, Choices, DeleteUserMessage, Edit, Image, Reply, Text

MAX_TEXT = 5000  # characters of a text message
MAX_MESSAGES = 5  # message objects in one reply or push
MAX_QUICK_REPLIES = 13  # quick reply buttons
MAX_LABEL = 20  # characters of a quick reply button's label
MAX_DATA = 300  # characters of a postback's data
CHOICE = "c:"  # postback data of a quick reply: the choice's action follows
MENU = "m:"  # postback data of a rich menu area: a flow's name or a command follows
MENU_NAMES = {"zh_TW": "helpdesk zh_TW", "en": "helpdesk en"}  # one rich menu per language

ImageUrl = Callable[[Image], Awaitable[str]]


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut at line ends where possible."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = limit
        parts.append(text[:cut])
        text = text[cut:].removeprefix("\n")
    parts.append(text)
    return parts


def fits(choices: tuple[Choice, ...]) -> bool:
    """Whether every choice shows whole as a quick reply button."""
    return len(choices) <= MAX_QUICK_REPLIES and all(len(c.label) <= MAX_LABEL for c in choices)


def numbered(text: str, choices: tuple[Choice, ...]) -> str:
    """The question with each choice on its own numbered line."""
    lines = [f"{n}. {choice.label}" for n, choice in enumerate(choices, 1)]
    return "\n".join([text, *lines]) if text else "\n".join(lines)


def _label(n: int, choice: Choice, whole: bool) -> str:
    if whole:
        return choice.label
    label = f"{n}. {choice.label}"
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def quick_reply(choices: tuple[Choice, ...]) -> QuickReply | None:
    """Quick reply buttons for the first 13 choices; each posts back its action."""
    if not choices:
        return None
    whole = fits(choices)
    items = [
        QuickReplyItem(
            action=PostbackAction(
                label=_label(n, choice, whole),
                data=(CHOICE + choice.action)[:MAX_DATA],
                # What the chat shows as the user's message when the button is tapped.
                display_text=choice.label[:300],
            )
        )
        for n, choice in enumerate(choices[:MAX_QUICK_REPLIES], 1)
    ]
    return QuickReply(items=items)


class _Pending:
    """A text being assembled, with the choices that should follow it."""

    def __init__(self, text: str, choices: tuple[Choice, ...] = ()) -> None:
        self.text = text
        self.choices = choices


async def to_messages(replies: list[Reply], image_url: ImageUrl, unsend_text: str) -> list[Any]:
    """LINE message objects for ``replies``, in order."""
    parts: list[_Pending | Image] = []
    for reply in replies:
        match reply:
            case Text(text):
                _append_text(parts, _Pending(text))
            case Choices(text, choices):
                _append_text(parts, _Pending(text, choices))
            case Image() as image:
                parts.append(image)
            case Edit(_key, image):
                # LINE cannot change a sent message: the new image follows instead.
                parts.append(image)
            case DeleteUserMessage():
                # No bot may unsend a user's message on LINE: say how to do it (收回).
                _append_text(parts, _Pending(unsend_text))
    messages: list[Any] = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if isinstance(part, Image):
            url = await image_url(part)
            messages.append(ImageMessage(original_content_url=url, preview_image_url=url))
            part = _Pending(part.caption, part.choices)
        messages.extend(_texts(part, last=last))
    return messages


def _append_text(parts: list[_Pending | Image], new: _Pending) -> None:
    """Join a text onto the one before it when that one asks nothing and both fit."""
    previous = parts[-1] if parts else None
    if (
        isinstance(previous, _Pending)
        and not previous.choices
        and len(previous.text) + 2 + len(new.text) <= MAX_TEXT
    ):
        previous.text = f"{previous.text}\n\n{new.text}" if previous.text else new.text
        previous.choices = new.choices
        return
    parts.append(new)


def _texts(part: _Pending, *, last: bool) -> list[TextMessage]:
    text = part.text
    if part.choices and (not last or not fits(part.choices)):
        text = numbered(text, part.choices)
    pieces = split_text(text or "…")
    messages = [TextMessage(text=piece) for piece in pieces[:-1]]
    buttons = quick_reply(part.choices) if last else None
    messages.append(TextMessage(text=pieces[-1], quick_reply=buttons))
    return messages


def batches(messages: list[Any]) -> list[list[Any]]:
    """The messages in requests of at most five."""
    return [messages[i : i + MAX_MESSAGES] for i in range(0, len(messages), MAX_MESSAGES)]
