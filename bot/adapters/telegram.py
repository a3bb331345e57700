"""Telegram adapter: translate updates into ``Incoming`` and replies into Bot API calls.

python-telegram-bot provides the Bot API calls, rate limiting and retries (AIORateLimiter
honours 429 retry_after); its ConversationHandler is not used, because it keeps state
in one process's memory (DESIGN.md): the engine owns state and locking, so any number
of webhook workers can take any update.

Two clients share the token. A turn's replies go out at once from the webhook's
request (``application.bot``: no pacing, only Telegram's own 429 retry_after waited
out). What is sent outside a turn (notices, card refreshes, the staff group's case
posts) goes from the job queue's ``telegram.delivery`` round, one at a time across all
workers (core/jobs.py), through a client paced below Telegram's 30 messages a second
and 20 a minute per group (``BACKGROUND_RATE``): a burst of background messages waits
in its own limiter, never in front of a user's reply.

The Bot API client is python-telegram-bot's ``Bot`` over aiohttp (``AiohttpRequest``)
rather than its default httpx client: every turn waits for at least one API call,
and httpx costs several times more per call, most of all with many in flight
(DESIGN.md, "HTTP clients under concurrency"; ``bench/README.md`` has our figures).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
from typing import Any

import aiohttp
import typer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    Update,
)
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ContextTypes,
    ExtBot,
    TypeHandler,
)
from telegram.request import BaseRequest, RequestData

from bot.adapters import staff_telegram
from bot.adapters.base import Capabilities, read_body, register
from bot.delivery import BackgroundDelivery
from bot.engine import Engine
from bot.services import Services
from bot.staffdesk import staff_round
from bot.types import Choice, Choices, DeleteUserMessage, Edit, Image, Incoming, Reply, Text
from core.deliveries import delivery_key
from core.metrics import platform_trace
from core.platform_messages import recall, remember

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT = 4096  # Bot API: message text
MAX_CAPTION = 1024  # Bot API: photo caption
CAPABILITIES = Capabilities(
    edits_images=True,  # editMessageMedia
    deletes_user_messages=True,  # deleteMessage, within 48 hours
    max_buttons=100,  # an inline keyboard
    max_label_length=64,  # longer labels are cut off in the app anyway
    max_text_length=MAX_TEXT,
)
# An update holds at most one message (4,096 characters of text, 1,024 of caption, a
# keyboard); even escaped as JSON that stays far below this.
MAX_UPDATE_BYTES = 1 << 20
# Keep-alive connections to the Bot API per worker. Telegram takes about 30 messages a
# second per bot (the rate limiter holds us there), so even at a second a call 32 are
# enough; the bound keeps a stalled API from making a worker open hundreds of sockets.
CONNECTION_POOL_SIZE = 32
# Background messages a second, all workers together (one round runs at a time): below
# Telegram's 30, so the turns' replies sent meanwhile find room.
BACKGROUND_RATE = 25

log = logging.getLogger(__name__)


def bot_id(token: str) -> str:
    """The bot's numeric id: the part of its token before the colon (not a secret)."""
    return token.partition(":")[0]


def to_incoming(update: Update, bot: str) -> Incoming | None:
    """The neutral form of an update to ``bot`` (its id) we act on; None for anything else.

    Update ids are unique only per bot (a new token starts over), so the delivery id
    names the bot too.
    """
    delivery_id = delivery_key(bot, str(update.update_id))
    query = update.callback_query
    if query is not None:
        chat = query.message.chat if query.message is not None else None
        return Incoming(
            channel=CHANNEL,
            user_id=str(query.from_user.id),
            chat_id=str(chat.id if chat is not None else query.from_user.id),
            action=query.data or "",
            locale_hint=query.from_user.language_code,
            delivery_id=delivery_id,
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
        delivery_id=delivery_id,
        message_id=str(message.message_id),
        private=message.chat.type == "private",
    )


def keyboard(choices: tuple[Choice, ...]) -> InlineKeyboardMarkup | None:
    if not choices:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(choice.label[:64], callback_data=choice.action)]
            for choice in choices[: CAPABILITIES.max_buttons]
        ]
    )


class AiohttpRequest(BaseRequest):
    """python-telegram-bot's HTTP client over one aiohttp session with a bounded pool.

    Timeouts as PTB's default client has them: 5 s to connect, read and write (20 s to
    write an upload), 1 s to wait for a free connection. aiohttp counts that wait in its
    connect timeout and has no write timeout of its own, so the whole call is also
    bounded by the four added up.
    """

    def __init__(
        self,
        connection_pool_size: int = CONNECTION_POOL_SIZE,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
                # helpdesk_platform_api_calls_total{platform="telegram"}: calls, errors, 429s.
                trace_configs=[platform_trace("telegram")],
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        fields = request_data.json_parameters if request_data is not None else None
        files = request_data.multipart_data if request_data is not None else {}
        data: aiohttp.FormData | dict[str, str] | None = fields
        if files:  # uploads go as multipart/form-data, as PTB's own client sends them
            data = aiohttp.FormData()
            for name, value in (fields or {}).items():
                data.add_field(name, value)
            for name, (filename, content, mime_type) in files.items():
                data.add_field(name, content, filename=filename, content_type=mime_type)
        read = _or_default(read_timeout, self._read_timeout)
        write_default = self._media_write_timeout if files else self._write_timeout
        write = _or_default(write_timeout, write_default)
        connect = _or_default(connect_timeout, self._connect_timeout)
        pool = _or_default(pool_timeout, self._pool_timeout)
        parts = (pool, connect, write, read)
        timeout = aiohttp.ClientTimeout(
            total=None if None in parts else sum(p for p in parts if p is not None),
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            # The URL holds the bot token: keep it out of the message PTB may log.
            detail = _TOKEN_IN_URL.sub(r"\1[token]\2", str(exc))
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {detail}") from exc


_TOKEN_IN_URL = re.compile(r"(/bot)[^/\s]+(/)")


def _or_default(given: ODVInput[float], default: float | None) -> float | None:
    """A timeout PTB passed for one call, or ours when it passed its "not given" marker."""
    return default if isinstance(given, DefaultValue) else given


@register
class TelegramAdapter:
    """One bot: its Application, the engine, and delivery of replies and notices."""

    channel = CHANNEL
    capabilities = CAPABILITIES

    def __init__(
        self,
        services: Services,
        engine: Engine,
        application: Application[Any, Any, Any, Any, Any, Any],
        *,
        paced_limiter: AIORateLimiter | None = None,
    ) -> None:
        """``paced_limiter``: the background client's (``BACKGROUND_RATE`` when not given)."""
        self.services = services
        self.engine = engine
        self.application = application
        self.bot_id = bot_id(application.bot.token)
        application.add_handler(TypeHandler(Update, self._on_update))
        # The profile's staff group, if any: cases, replies under them, their buttons.
        self.staff = staff_telegram.staff_desk(services, application.bot)
        # What is sent outside a turn, paced (the module's docstring). It shares the
        # application's HTTP client, so it opens and closes with the application.
        self.paced = ExtBot(
            application.bot.token,
            base_url=services.settings.telegram_api_url,
            request=application.bot.request,
            get_updates_request=application.bot.request,
            rate_limiter=paced_limiter
            or AIORateLimiter(overall_max_rate=BACKGROUND_RATE, max_retries=3),
        )
        self.background = BackgroundDelivery(services, CHANNEL, self.send_background)
        self._paced_staff = staff_telegram.staff_desk(services, self.paced)

    @classmethod
    def build(
        cls,
        services: Services,
        engine: Engine,
        *,
        polling: bool = False,
        paced_limiter: AIORateLimiter | None = None,
    ) -> TelegramAdapter:
        token = services.settings.telegram_token
        if token is None:
            raise ValueError("HELPDESK_TELEGRAM_TOKEN is not set")
        # Every Bot API call, getUpdates included, goes through our request class: the
        # URL holds the token, and PTB's default httpx client logs URLs at INFO.
        builder = (
            ApplicationBuilder()
            .token(token.get_secret_value())
            .base_url(services.settings.telegram_api_url)
            .request(AiohttpRequest())
            .get_updates_request(AiohttpRequest(connection_pool_size=1))
            # A turn's replies are not paced: only a 429's retry_after is waited out.
            .rate_limiter(AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=3))
        )
        if not polling:
            builder = builder.updater(None)
        return cls(services, engine, builder.build(), paced_limiter=paced_limiter)

    @classmethod
    def from_settings(cls, services: Services, engine: Engine) -> TelegramAdapter | None:
        """The webhook adapter when HELPDESK_TELEGRAM_TOKEN is set."""
        if services.settings.telegram_token is None:
            return None
        return cls.build(services, engine)

    @classmethod
    def commands(cls) -> typer.Typer:
        from bot.cli.telegram import telegram_app

        return telegram_app

    def routes(self) -> list[BaseRoute]:
        return [Route("/telegram/webhook", self.webhook, methods=["POST"])]

    async def startup(self) -> None:
        await self.application.initialize()

    async def shutdown(self) -> None:
        await self.application.shutdown()

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if self.staff is not None and staff_telegram.is_staff_update(self.staff, update):
            await staff_telegram.on_update(self.staff, update)
            return
        incoming = to_incoming(update, self.bot_id)
        if incoming is None:
            return
        if update.callback_query is not None:
            # Every press is answered, or the button keeps spinning in the user's app.
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer()
        replies = await self.engine.handle(incoming)
        await self.send(incoming.chat_id, replies)

    async def send(self, chat_id: str, replies: list[Reply], *, bot: Bot | None = None) -> None:
        """Turn neutral replies into Bot API calls, in order (a turn's: ``application.bot``)."""
        bot = bot or self.application.bot
        for reply in replies:
            match reply:
                case Text(text):
                    await bot.send_message(int(chat_id), text[:MAX_TEXT])
                case Choices(text, choices):
                    await bot.send_message(
                        int(chat_id), text[:MAX_TEXT] or "…", reply_markup=keyboard(choices)
                    )
                case Image() as image:
                    await self._photo(bot, chat_id, image)
                case Edit(key, image):
                    await self._edit(bot, chat_id, key, image)
                case DeleteUserMessage(message_id) if message_id:
                    # Telegram lets a bot delete a message for 48 hours; past that, or
                    # without the right, the warning the engine sent still stands.
                    with contextlib.suppress(TelegramError):
                        await bot.delete_message(int(chat_id), int(message_id))

    async def send_background(self, chat_id: str, replies: list[Reply]) -> None:
        """Send what is not a turn's reply (a notice, a card refresh) through the paced client."""
        await self.send(chat_id, replies, bot=self.paced)

    async def _photo(self, bot: Bot, chat_id: str, image: Image) -> None:
        message: Message = await bot.send_photo(
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

    async def _edit(self, bot: Bot, chat_id: str, key: str, image: Image) -> None:
        message_id = await recall(self.services.sessions, channel=CHANNEL, chat_id=chat_id, key=key)
        if message_id is None:
            await self._photo(bot, chat_id, image)
            return
        try:
            await bot.edit_message_media(
                media=InputMediaPhoto(image.png, caption=image.caption[:MAX_CAPTION]),
                chat_id=int(chat_id),
                message_id=int(message_id),
                reply_markup=keyboard(image.choices),
            )
        except TelegramError as exc:
            log.info("edit of a card image failed (%s); sending a new one", type(exc).__name__)
            await self._photo(bot, chat_id, image)

    async def deliver_background(self) -> None:
        """One round of the ``telegram.delivery`` job: notices, due card refreshes, cases."""
        async with self.background.lock:
            await self.background.deliver()
            await staff_round(self.services, self._paced_staff)

    # -- webhook -------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        """POST /telegram/webhook: the secret token checked, then one update processed."""
        secret = self.services.settings.telegram_secret
        given = request.headers.get(SECRET_HEADER, "")
        if secret is None or not hmac.compare_digest(
            given.encode(), secret.get_secret_value().encode()
        ):
            return Response(status_code=403)
        body = await read_body(request, MAX_UPDATE_BYTES)
        if body is None:
            return Response(status_code=413)
        try:
            update = Update.de_json(json.loads(body), self.application.bot)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return JSONResponse({"ok": False}, status_code=400)
        await self.application.process_update(update)
        return JSONResponse({"ok": True})
