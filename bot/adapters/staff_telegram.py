"""The staff Telegram group: cases as messages with Claim and Close buttons.

A case's "thread" is its message and the replies to it: staff answer by replying to the
case's message (or to a user message the bot relayed under it). With the bot's privacy
mode on, a group bot receives exactly those replies and the button presses.
"""

from __future__ import annotations

import contextlib
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters, Update
from telegram.error import TelegramError

from bot.services import Services
from bot.staffdesk import CaseDesk

DESK = "telegram"
MAX_TEXT = 4096


def case_keyboard(case_id: int, status: str) -> InlineKeyboardMarkup | None:
    row = []
    if status == "open":
        row.append(InlineKeyboardButton("Claim", callback_data=f"case:claim:{case_id}"))
    if status != "closed":
        row.append(InlineKeyboardButton("Close", callback_data=f"case:close:{case_id}"))
    return InlineKeyboardMarkup([row]) if row else None


class TelegramStaffDesk:
    """Cases in one Telegram group, through the adapter's bot."""

    desk = DESK

    def __init__(self, bot: Bot, group: int) -> None:
        self.bot, self.group = bot, group

    async def post_case(self, case_id: int, text: str, status: str) -> dict[str, Any]:
        message = await self.bot.send_message(
            self.group, text[:MAX_TEXT], reply_markup=case_keyboard(case_id, status)
        )
        return {"chat_id": self.group, "message_id": message.message_id, "messages": []}

    async def update_case(
        self, where: dict[str, Any], case_id: int, text: str, status: str
    ) -> None:
        with contextlib.suppress(TelegramError):  # unchanged text, or deleted by staff
            await self.bot.edit_message_text(
                text[:MAX_TEXT],
                chat_id=where["chat_id"],
                message_id=where["message_id"],
                reply_markup=case_keyboard(case_id, status),
            )

    async def post_in_thread(self, where: dict[str, Any], text: str) -> dict[str, Any]:
        message = await self.bot.send_message(
            where["chat_id"],
            text[:MAX_TEXT],
            reply_parameters=ReplyParameters(where["message_id"], allow_sending_without_reply=True),
        )
        return {"messages": [message.message_id]}


def staff_desk(services: Services, bot: Bot) -> CaseDesk | None:
    """The profile's staff group on Telegram, if it names one."""
    group = services.profile.handoff.telegram_group
    return CaseDesk(services, TelegramStaffDesk(bot, group)) if group is not None else None


def is_staff_update(desk: CaseDesk | None, update: Update) -> bool:
    """Whether an update comes from the staff group (and is not for the engine)."""
    if desk is None:
        return False
    assert isinstance(desk.desk, TelegramStaffDesk)
    chat = update.effective_chat
    return chat is not None and chat.id == desk.desk.group


async def on_update(desk: CaseDesk, update: Update) -> None:
    """A button press on a case, or a staff reply under one."""
    assert isinstance(desk.desk, TelegramStaffDesk)
    query = update.callback_query
    if query is not None:
        with contextlib.suppress(TelegramError):
            await query.answer()
        parts = (query.data or "").split(":")
        if len(parts) == 3 and parts[0] == "case" and parts[2].isdigit():
            await desk.button(int(parts[2]), parts[1], str(query.from_user.id))
        return
    message = update.message
    if message is None or message.from_user is None or message.reply_to_message is None:
        return
    replied = message.reply_to_message.message_id
    case_id = await desk.case_for({"message_id": replied}) or await desk.case_for(
        {"messages": replied}
    )
    if case_id is None:
        return
    _relayed, answer = await desk.staff_reply(
        case_id, str(message.from_user.id), message.text or ""
    )
    if answer:
        await desk.desk.bot.send_message(
            desk.desk.group, answer, reply_parameters=ReplyParameters(message.message_id)
        )
