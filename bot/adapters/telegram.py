"""Telegram adapter: translate updates into ``Incoming`` and replies into Bot API calls.

python-telegram-bot provides the HTTP client, rate limiting and retries (AIORateLimiter
honours 429 retry_after); its ConversationHandler is not used, because it keeps state
in one process's memory (DESIGN.md): the engine owns state and locking, so any number
of webhook workers can take any update.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.card_images import CardRefresher
from bot.engine import Engine
from bot.services import Services
from bot.types import Choice, Choices, DeleteUserMessage, Edit, Image, Incoming, Reply, Text
from core.notices import take_pending
from core.platform_messages import recall, remember

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT = 4096  # Bot API: message text
MAX_CAPTION = 1024  # Bot API: photo caption
MAX_UPDATE_BYTES = 1 << 20

log = logging.getLogger(__name__)


def to_incoming(update: Update) -> Incoming | None:
    """The neutral form of an update we act on; None for anything else (edits, joins)."""
    query = update.callback_query
    if query is not None:
        chat = query.message.chat if query.message is not None else None
        return Incoming(
            channel=CHANNEL,
            user_id=str(query.from_user.id),
            chat_id=str(chat.id if chat is not None else query.from_user.id),
            action=query.data or "",
            locale_hint=query.from_user.language_code,
            delivery_id=str(update.update_id),
            private=chat is None or chat.type == "private",
        )
    message = update.message
    if message is None or message.from_user is None:
        return None
    return Incoming(
        channel=CHANNEL,
        user_id=str(message.from_user.id),
        chat_id=str(message.chat.id),
        # A sticker or photo has no text: the engine answers that it reads only text.
        text=message.text or "",
        locale_hint=message.from_user.language_code,
        delivery_id=str(update.update_id),
        message_id=str(message.message_id),
        private=message.chat.type == "private",
    )


def keyboard(choices: tuple[Choice, ...]) -> InlineKeyboardMarkup | None:
    if not choices:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(choice.label[:64], callback_data=choice.action)]
            for choice in choices
        ]
    )


class TelegramAdapter:
    """One bot: its Application, the engine, and delivery of replies and notices."""

    def __init__(
        self,
        services: Services,
        engine: Engine,
        application: Application[Any, Any, Any, Any, Any, Any],
    ) -> None:
        self.services = services
        self.engine = engine
        self.application = application
        self.refresher = CardRefresher(services)
        application.add_handler(TypeHandler(Update, self._on_update))

    @classmethod
    def build(cls, services: Services, engine: Engine, *, polling: bool = False) -> TelegramAdapter:
        token = services.settings.telegram_token
        if token is None:
            raise ValueError("HELPDESK_TELEGRAM_TOKEN is not set")
        builder = (
            ApplicationBuilder()
            .token(token.get_secret_value())
            .base_url(services.settings.telegram_api_url)
            .rate_limiter(AIORateLimiter(max_retries=3))
        )
        if not polling:
            builder = builder.updater(None)
        return cls(services, engine, builder.build())

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        incoming = to_incoming(update)
        if incoming is None:
            return
        if update.callback_query is not None:
            # Every press is answered, or the button keeps spinning in the user's app.
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer()
        replies = await self.engine.handle(incoming)
        await self.send(incoming.chat_id, replies)

    async def send(self, chat_id: str, replies: list[Reply]) -> None:
        """Turn neutral replies into Bot API calls, in order."""
        bot = self.application.bot
        for reply in replies:
            match reply:
                case Text(text):
                    await bot.send_message(int(chat_id), text[:MAX_TEXT])
                case Choices(text, choices):
                    await bot.send_message(
                        int(chat_id), text[:MAX_TEXT] or "…", reply_markup=keyboard(choices)
                    )
                case Image() as image:
                    await self._photo(chat_id, image)
                case Edit(key, image):
                    await self._edit(chat_id, key, image)
                case DeleteUserMessage(message_id) if message_id:
                    # Telegram lets a bot delete a message for 48 hours; past that, or
                    # without the right, the warning the engine sent still stands.
                    with contextlib.suppress(TelegramError):
                        await bot.delete_message(int(chat_id), int(message_id))

    async def _photo(self, chat_id: str, image: Image) -> None:
        message: Message = await self.application.bot.send_photo(
            int(chat_id),
            photo=image.png,
            caption=image.caption[:MAX_CAPTION],
            reply_markup=keyboard(image.choices),
        )
        if image.key:
            await remember(
                self.services.sessions,
                channel=CHANNEL,
                chat_id=chat_id,
                key=image.key,
                message_id=str(message.message_id),
                now=self.services.clock.now(),
            )

    async def _edit(self, chat_id: str, key: str, image: Image) -> None:
        message_id = await recall(self.services.sessions, channel=CHANNEL, chat_id=chat_id, key=key)
        if message_id is None:
            await self._photo(chat_id, image)
            return
        try:
            await self.application.bot.edit_message_media(
                media=InputMediaPhoto(image.png, caption=image.caption[:MAX_CAPTION]),
                chat_id=int(chat_id),
                message_id=int(message_id),
                reply_markup=keyboard(image.choices),
            )
        except TelegramError as exc:
            log.info("edit of a card image failed (%s); sending a new one", type(exc).__name__)
            await self._photo(chat_id, image)

    async def deliver_background(self) -> None:
        """Send chat notices and due card refreshes for Telegram chats, once each."""
        for notice in await take_pending(
            self.services.sessions, channel=CHANNEL, now=self.services.clock.now()
        ):
            await self.send(notice.chat_id, [Text(notice.text)])
        for refresh in await self.refresher.run_once(channel=CHANNEL):
            reply: Reply = refresh.edit or Text(refresh.closed_text or "")
            await self.send(refresh.chat_id, [reply])

    async def run_background(self, interval: float = 1.0) -> None:
        while True:
            try:
                await self.deliver_background()
            except Exception:  # keep delivering after a passing fault
                log.exception("telegram background delivery failed")
            await asyncio.sleep(interval)

    # -- webhook -------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        """POST /telegram/webhook: the secret token checked, then one update processed."""
        secret = self.services.settings.telegram_secret
        given = request.headers.get(SECRET_HEADER, "")
        if secret is None or not hmac.compare_digest(
            given.encode(), secret.get_secret_value().encode()
        ):
            return Response(status_code=403)
        body = await request.body()
        if len(body) > MAX_UPDATE_BYTES:
            return Response(status_code=413)
        try:
            update = Update.de_json(json.loads(body), self.application.bot)
        except (ValueError, TypeError, KeyError):
            return JSONResponse({"ok": False}, status_code=400)
        await self.application.process_update(update)
        return JSONResponse({"ok": True})
