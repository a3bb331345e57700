"""LINE adapter: webhook events into ``Incoming``, replies through the Messaging API.

Every call goes through line-bot-sdk's async Messaging API client. A reply token is
free but works once and only briefly, so replies use it first and fall back to a push
(which counts against the account's monthly quota) when it has expired. Background
messages (notices, card refreshes) are pushes, sent only while the quota allows; a
notice that cannot be sent stays queued and goes out with the chat's next reply, so
nothing is lost. LINE cannot edit a sent message or delete a user's: a changed card
is a new image, and for a pasted password the user is told how to unsend (收回) it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import typer
from linebot.v3 import SignatureValidator
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    PushMessageRequest,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
    TextMessage,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.adapters import line_media
from bot.adapters.base import Capabilities, read_body, register
from bot.adapters.line_messages import (
    CHOICE,
    MAX_LABEL,
    MAX_QUICK_REPLIES,
    MAX_TEXT,
    MENU,
    MENU_NAMES,
    batches,
    to_messages,
)
from bot.delivery import BackgroundDelivery
from bot.engine import Engine
from bot.services import Services
from bot.types import Choices, Edit, Image, Incoming, Reply, Text
from core.cards import seconds_left
from core.deliveries import delivery_key
from core.i18n import DEFAULT_LOCALE, N_, Translator, normalise_locale
from core.metrics import platform_trace
from core.models import ChatNotice
from core.notices import take_pending

CHANNEL = "line"
CAPABILITIES = Capabilities(
    edits_images=False,  # a sent message cannot be changed
    deletes_user_messages=False,  # no bot may unsend a user's message
    max_buttons=MAX_QUICK_REPLIES,
    max_label_length=MAX_LABEL,
    max_text_length=MAX_TEXT,
    images_by_bytes=False,  # images only by HTTPS URL
)
# A webhook carries at most a few events of at most 5,000 characters each.
MAX_WEBHOOK_BYTES = 1 << 20
PROFILE_TTL = 600.0  # seconds a user's LINE language is cached
QUOTA_TTL = 60.0  # seconds the monthly quota's reading is trusted
# Card refreshes are pushes: they stop while less than this share of the month's
# quota is left, keeping the rest for notices (password changed, card approved).
REFRESH_RESERVE = 0.1
RETRIES = 3  # attempts after a 429 (rate limit) or a server error
RETRY_DELAY = 0.5  # seconds before the first retry; doubled each time
LOADING_AFTER = 1.0  # seconds a step may take before the loading animation shows
LOADING_SECONDS = 20  # how long LINE shows it (a multiple of 5, at most 60)

HOW_TO_UNSEND = N_(
    "LINE does not let me delete your message. Please unsend it yourself: press and "
    "hold the message, then choose Unsend."
)
HELD_BACK = N_(
    "Some messages could not reach you earlier because this LINE account had used up "
    "its messages for the month. Here they are:"
)
CARD_ON_LINE = N_("LINE cannot change a picture once sent: tap “Refresh now” for a new code.")

log = logging.getLogger(__name__)
T = TypeVar("T")


class QuotaExhausted(Exception):
    """The account has no pushes left this month (LINE answered 429, monthly limit)."""


def _message(exc: ApiException) -> str:
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return str(json.loads(exc.body or "{}").get("message") or "")
    return ""


def is_monthly_limit(exc: ApiException) -> bool:
    return exc.status == 429 and "monthly limit" in _message(exc).lower()


def to_incoming(event: Mapping[str, Any], destination: str) -> Incoming | None:
    """The neutral form of a webhook event we act on; None for anything else.

    ``webhookEventId`` is unique per channel, so the delivery id names the receiving
    bot (``destination``) too. A rich menu tap keeps its ``m:`` prefix: the adapter
    turns it into the step it stands for.
    """
    source = event.get("source") or {}
    kind = source.get("type")
    ids = {"user": "userId", "group": "groupId", "room": "roomId"}
    chat_id = source.get(ids.get(str(kind), ""))
    if kind not in ("user", "group", "room") or not chat_id:
        return None
    base = Incoming(
        channel=CHANNEL,
        user_id=str(source.get("userId") or chat_id),
        chat_id=str(chat_id),
        delivery_id=(
            delivery_key(destination, str(event["webhookEventId"]))
            if event.get("webhookEventId")
            else None
        ),
        private=kind == "user",
    )
    match event.get("type"):
        case "message":
            message = event.get("message") or {}
            # A sticker or photo has no text: the engine answers that it reads only text.
            text = str(message.get("text") or "") if message.get("type") == "text" else ""
            return replace(base, text=text, message_id=str(message.get("id") or "") or None)
        case "postback":
            data = str((event.get("postback") or {}).get("data") or "")
            if data.startswith(CHOICE):
                return replace(base, action=data.removeprefix(CHOICE))
            if data.startswith(MENU):
                return replace(base, action=data)
            return None
        case "follow" | "join":
            # A new friend is greeted with the menu; a group is pointed to a 1:1 chat.
            return replace(base, text="/start")
    return None


@register
class LineAdapter:
    """One LINE channel (official account): its webhook, the engine, replies and pushes."""

    channel = CHANNEL
    capabilities = CAPABILITIES

    def __init__(self, services: Services, engine: Engine, client: AsyncApiClient) -> None:
        self.services = services
        self.engine = engine
        self.client = client
        self.api = AsyncMessagingApi(client)
        self.blob = AsyncMessagingApiBlob(client)
        self.media = line_media.MediaRoute(services.sessions, services.clock)
        self.background = BackgroundDelivery(services, CHANNEL, self.send)
        self.loading_after = LOADING_AFTER
        self._profiles: dict[str, tuple[float, str | None]] = {}
        self._quota: tuple[float, int | None, int] | None = None  # (read at, limit, used)
        self._menus: dict[str, str] | None = None
        self._menu_linked: set[str] = set()

    @classmethod
    def build(cls, services: Services, engine: Engine) -> LineAdapter:
        settings = services.settings
        token = settings.line_channel_access_token
        if token is None or settings.line_channel_secret is None:
            raise ValueError("set HELPDESK_LINE_CHANNEL_SECRET and _CHANNEL_ACCESS_TOKEN")
        configuration = Configuration(
            host=settings.line_api_url.rstrip("/"), access_token=token.get_secret_value()
        )
        client = DataHostClient(configuration, data_host=settings.line_data_api_url)
        return cls(services, engine, client)

    @classmethod
    def from_settings(cls, services: Services, engine: Engine) -> LineAdapter | None:
        """The webhook adapter when the channel secret and access token are set."""
        settings = services.settings
        if settings.line_channel_secret is None or settings.line_channel_access_token is None:
            return None
        return cls.build(services, engine)

    @classmethod
    def commands(cls) -> typer.Typer:
        from bot.cli.line import line_app

        return line_app

    def routes(self) -> list[BaseRoute]:
        return [Route("/line/webhook", self.webhook, methods=["POST"]), *self.media.routes()]

    async def startup(self) -> None:
        """Nothing to prepare: the client opens connections as it needs them."""

    async def shutdown(self) -> None:
        await self.client.close()

    # -- calls -------------------------------------------------------------------------

    async def _call(self, make: Callable[[], Awaitable[T]], *, idempotent: bool = True) -> T:
        """One API call, retried after a rate limit (and, if idempotent, a server error)."""
        delay = RETRY_DELAY
        for attempt in range(RETRIES + 1):
            try:
                return await make()
            except ApiException as exc:
                if is_monthly_limit(exc):
                    raise QuotaExhausted from exc
                retry = exc.status == 429 or (idempotent and (exc.status or 0) >= 500)
                if not retry or attempt == RETRIES:
                    raise
                log.info("LINE answered %s; retrying in %.1f s", exc.status, delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def _reply(self, token: str, messages: list[Any]) -> bool:
        """Send with the reply token; False when it has expired or was used."""
        try:
            await self._call(
                lambda: self.api.reply_message(
                    ReplyMessageRequest(reply_token=token, messages=messages)
                ),
                idempotent=False,
            )
        except ApiException as exc:
            if exc.status == 400 and "reply token" in _message(exc).lower():
                return False
            raise
        return True

    async def _push(self, to: str, messages: list[Any]) -> None:
        # The retry key makes LINE accept a retried push once, not twice.
        key = str(uuid.uuid4())
        await self._call(
            lambda: self.api.push_message(
                PushMessageRequest(to=to, messages=messages), x_line_retry_key=key
            )
        )
        self._count_push()

    # -- quota ---------------------------------------------------------------------------

    async def quota_left(self) -> tuple[int | None, int]:
        """Pushes left this month (None: no limit) and the month's limit (0: none)."""
        now = time.monotonic()
        if self._quota is None or now - self._quota[0] > QUOTA_TTL:
            quota = await self._call(self.api.get_message_quota)
            limit = int(quota.value) if quota.type == "limited" else None
            used = 0
            if limit is not None:
                used = int((await self._call(self.api.get_message_quota_consumption)).total_usage)
            self._quota = (now, limit, used)
        _read, limit, used = self._quota
        return (None, 0) if limit is None else (max(limit - used, 0), limit)

    def _count_push(self) -> None:
        if self._quota is not None:
            read, limit, used = self._quota
            self._quota = (read, limit, used + 1)

    def _quota_exhausted(self) -> None:
        limit = self._quota[1] if self._quota is not None else 0
        self._quota = (time.monotonic(), limit or 0, limit or 0)

    # -- inbound -------------------------------------------------------------------------

    async def _language(self, user_id: str) -> str | None:
        """The user's LINE language (profile API), cached; None when LINE does not say."""
        cached = self._profiles.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < PROFILE_TTL:
            return cached[1]
        language = None
        try:
            profile = await self._call(lambda: self.api.get_profile(user_id))
            language = profile.language
        except ApiException as exc:  # not a friend (any more), or LINE is unwell
            log.info("LINE profile unavailable (%s)", exc.status)
        self._profiles[user_id] = (time.monotonic(), language)
        return language

    async def _show_loading(self, chat_id: str) -> None:
        with contextlib.suppress(ApiException, QuotaExhausted):
            await self._call(
                lambda: self.api.show_loading_animation(
                    ShowLoadingAnimationRequest(chat_id=chat_id, loading_seconds=LOADING_SECONDS)
                )
            )

    async def _step(self, incoming: Incoming) -> list[Reply]:
        """The engine's replies; past a moment, LINE shows the user a loading animation."""
        step = asyncio.ensure_future(self._engine_step(incoming))
        done, _pending = await asyncio.wait({step}, timeout=self.loading_after)
        if not done and incoming.private:
            await self._show_loading(incoming.chat_id)
        return await step

    async def _engine_step(self, incoming: Incoming) -> list[Reply]:
        if incoming.action is not None and incoming.action.startswith(MENU):
            return await self._menu_tap(incoming, incoming.action.removeprefix(MENU))
        return await self.engine.handle(incoming)

    async def _menu_tap(self, incoming: Incoming, target: str) -> list[Reply]:
        """A rich menu area: a command, or a flow started from the menu it stands for.

        Buttons carry the step's nonce, which a fixed menu cannot: the tap opens the
        menu (one step) and presses the flow's button in it (the next).
        """
        if target.startswith("/"):
            return await self.engine.handle(replace(incoming, action=None, text=target))
        opened = await self.engine.handle(
            replace(
                incoming,
                action=None,
                text="/menu",
                delivery_id=f"{incoming.delivery_id}/menu" if incoming.delivery_id else None,
            )
        )
        for reply in opened:
            if isinstance(reply, Choices):
                for choice in reply.choices:
                    if choice.action.endswith(f":flow:{target}"):
                        return await self.engine.handle(replace(incoming, action=choice.action))
        return opened

    async def handle_event(self, event: Mapping[str, Any], destination: str) -> None:
        incoming = to_incoming(event, destination)
        if incoming is None:
            return
        locale = await self._language(incoming.user_id) if incoming.private else None
        incoming = replace(incoming, locale_hint=locale)
        replies = await self._step(incoming)
        if not replies:
            return  # a redelivered event, handled before
        if incoming.private:
            await self._link_menu(incoming.user_id, locale)
            held = await take_pending(
                self.services.sessions,
                channel=CHANNEL,
                chat_id=incoming.chat_id,
                now=self.services.clock.now(),
            )
            # Notices waiting for this chat go with this free reply.
            replies = [*(Text(n.text) for n in held), *replies]
        reply_token = event.get("replyToken")
        await self.send(incoming.chat_id, replies, reply_token=reply_token, locale=locale)

    # -- outbound ------------------------------------------------------------------------

    async def send(
        self,
        chat_id: str,
        replies: list[Reply],
        *,
        reply_token: str | None = None,
        locale: str | None = None,
    ) -> None:
        """Deliver replies: by the reply token while it works, then by push.

        Without a reply token (background delivery) a card refresh is sent only while
        the month's quota keeps a reserve. When the quota is used up, what could not be
        sent is queued for the chat's next reply, after a sentence saying so.
        """
        if reply_token is None and any(isinstance(r, Edit) for r in replies):
            left, limit = await self.quota_left()
            if left is not None and left <= limit * REFRESH_RESERVE:
                replies = [r for r in replies if not isinstance(r, Edit)]
        t = Translator(normalise_locale(locale) or DEFAULT_LOCALE)
        replies = [self._on_line(r, t) for r in replies]
        messages = await to_messages(replies, self._image_url, t._(HOW_TO_UNSEND))
        groups = batches(messages)
        for sent, batch in enumerate(groups):
            if reply_token is not None:
                token, reply_token = reply_token, None
                if await self._reply(token, batch):
                    continue
                log.info("LINE reply token expired; pushing instead")
            try:
                await self._push(chat_id, batch)
            except QuotaExhausted:
                self._quota_exhausted()
                unsent = [m for group in groups[sent:] for m in group]
                await self._hold(chat_id, unsent, t)
                return

    def _on_line(self, reply: Reply, t: Translator) -> Reply:
        """The card's caption says how it changes here, since LINE cannot edit it."""
        if isinstance(reply, Edit):
            reply = reply.image
        if isinstance(reply, Image) and reply.key:
            return replace(reply, caption=f"{reply.caption}\n{t._(CARD_ON_LINE)}")
        return reply

    async def _hold(self, chat_id: str, unsent: list[Any], t: Translator) -> None:
        """Queue the texts of unsent messages for the chat's next reply, which is free."""
        texts = [m.text for m in unsent if isinstance(m, TextMessage)]
        log.warning("LINE monthly quota used up; %d message(s) held for the next reply", len(texts))
        now = self.services.clock.now()
        async with self.services.sessions() as session, session.begin():
            for text in [t._(HELD_BACK), *texts]:
                session.add(ChatNotice(channel=CHANNEL, chat_id=chat_id, text=text, created_at=now))

    async def _image_url(self, image: Image) -> str:
        """Store the PNG until its code stops being accepted; return its HTTPS URL."""
        now = self.services.clock.now()
        period = self.services.profile.card.refresh_seconds
        # The verifier accepts the current and the previous step: the image lasts as long.
        expires = now + dt.timedelta(seconds=seconds_left(now, period) + period)
        token = await line_media.store(self.services.sessions, image.png, expires_at=expires)
        return f"{self.services.settings.public_url.rstrip('/')}/media/{token}.png"

    async def _link_menu(self, user_id: str, locale: str | None) -> None:
        """Give a user whose LINE speaks English the English rich menu (once)."""
        if user_id in self._menu_linked or normalise_locale(locale) != "en":
            return
        self._menu_linked.add(user_id)
        with contextlib.suppress(ApiException, QuotaExhausted):
            if self._menus is None:
                listed = await self._call(self.api.get_rich_menu_list)
                self._menus = {m.name: m.rich_menu_id for m in listed.richmenus}
            menu = self._menus.get(MENU_NAMES["en"])
            if menu is not None:
                await self._call(lambda: self.api.link_rich_menu_id_to_user(user_id, menu))

    # -- background ----------------------------------------------------------------------

    async def deliver_background(self) -> None:
        """Push notices and card refreshes, once each, while the month's quota allows."""
        async with self.background.lock:
            await self._deliver_background()

    async def _deliver_background(self) -> None:
        try:
            left, _limit = await self.quota_left()
        except ApiException as exc:
            log.info("LINE quota unreadable (%s); background delivery waits", exc.status)
            return
        if left == 0:
            return  # notices stay queued and go with each chat's next reply
        await self.background.deliver()
        await line_media.purge_expired(self.services.sessions, now=self.services.clock.now())

    # -- webhook -------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        """POST /line/webhook: the signature checked on the raw body, then each event."""
        secret = self.services.settings.line_channel_secret
        signature = request.headers.get("x-line-signature")
        if not signature:
            return Response(status_code=400)
        body = await read_body(request, MAX_WEBHOOK_BYTES)
        if body is None:
            return Response(status_code=413)
        try:
            text = body.decode()
        except UnicodeDecodeError:
            return Response(status_code=400)  # LINE signs UTF-8 JSON
        if secret is None or not SignatureValidator(secret.get_secret_value()).validate(
            text, signature
        ):
            return Response(status_code=401)
        try:
            payload = json.loads(text)
            events = payload["events"]
            destination = str(payload.get("destination") or "")
            if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
                raise TypeError
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return JSONResponse({"ok": False}, status_code=400)
        for event in events:
            try:
                await self.handle_event(event, destination)
            except (ApiException, QuotaExhausted) as exc:
                # The step itself is stored; LINE would only redeliver what we have done.
                log.warning("LINE event not fully answered: %s", type(exc).__name__)
        return JSONResponse({"ok": True})


class DataHostClient(AsyncApiClient):  # type: ignore[misc]
    """The SDK's client with the data API's base (uploads) taken from the settings.

    The SDK fixes ``https://api-data.line.me`` per call; this lets a deployment (and
    the tests' stand-in) name it.
    """

    DATA_HOST = "https://api-data.line.me"

    def __init__(self, configuration: Configuration, *, data_host: str) -> None:
        super().__init__(configuration)
        self.data_host = data_host.rstrip("/")
        # helpdesk_platform_api_calls_total{platform="line"}: the SDK makes its aiohttp
        # session itself and takes no trace configs, so one is added to that session (a
        # frozen TraceConfig, as the session's own constructor leaves them).
        trace = platform_trace("line")
        trace.freeze()
        self.rest_client.pool_manager._trace_configs.append(trace)

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("_host") == self.DATA_HOST:
            kwargs["_host"] = self.data_host
        return super().call_api(*args, **kwargs)
