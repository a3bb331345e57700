"""Slack adapter (slack-bolt AsyncApp): events and button actions in, Web API calls out.

Each request's size, signature and timestamp are checked on the raw bytes before
anything parses them (413, 401); Bolt then routes it, and the listener queues the work
(core/jobs.py) before Bolt acknowledges, well within Slack's 3 seconds: the engine's turn,
``users.info`` and the replies run in a job worker, in this process or in
``helpdesk worker`` (``job_worker``), never on the acknowledging path. A chat's jobs share
a lock, so its messages are handled one at a time in the order they came; a job whose
worker was killed runs again. Slack retries an event it thinks was missed
(X-Slack-Retry-Num): a retry of an event still queued adds nothing, the engine dedupes on
the app, workspace and ``event_id`` (so a job run again is harmless), and every delivery
still gets 200, since anything else makes Slack retry again (DESIGN.md). If the queue
cannot take the work, Bolt answers 500 and Slack delivers the event again later.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import aiohttp
import typer
from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    async_default_handlers,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.adapters import staff_slack
from bot.adapters.base import Capabilities, read_body, register
from bot.delivery import BackgroundDelivery
from bot.engine import Engine
from bot.services import Services
from bot.staffdesk import staff_round
from bot.types import Choice, Choices, DeleteUserMessage, Edit, Image, Incoming, Reply, Text
from core.deliveries import delivery_key
from core.i18n import N_, Translator, normalise_locale
from core.jobs import RETRY
from core.metrics import platform_trace
from core.platform_messages import recall, remember

CHANNEL = "slack"
PROFILE_TTL = 600.0  # seconds a user's locale and e-mail are cached
MAX_TEXT = 3000  # a section block's text
BUTTONS_PER_BLOCK = 25  # elements of an actions block
CAPABILITIES = Capabilities(
    edits_images=True,  # chat.update with a newly uploaded file
    deletes_user_messages=False,  # no bot may delete a user's message
    max_buttons=BUTTONS_PER_BLOCK * 4,  # several actions blocks, far below 50 blocks
    max_label_length=75,  # a button's plain_text
    max_text_length=MAX_TEXT,
)
# The largest payload we take is a message event: 40,000 characters of text (Slack's
# limit), repeated in its rich-text blocks, JSON-escaped at up to 6 bytes a character:
# about 0.5 MB. Anything bigger is not from Slack.
MAX_REQUEST_BYTES = 1 << 20
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
AFTER_ACK_TASK = "slack.after_ack"  # the queue's name for the work after an ack

HOW_TO_DELETE = N_(
    "Slack does not let me delete your message. Please delete it yourself: hover over it, "
    "choose ⋮ (More actions), then Delete message."
)

log = logging.getLogger(__name__)


def buttons(choices: tuple[Choice, ...]) -> list[dict[str, Any]]:
    """Actions blocks of at most 25 buttons each, so no choice is dropped."""
    limit = CAPABILITIES.max_label_length
    elements = [
        {
            "type": "button",
            "action_id": f"choice-{n}",
            "text": {"type": "plain_text", "text": choice.label[:limit]},
            "value": choice.action,
        }
        for n, choice in enumerate(choices[: CAPABILITIES.max_buttons])
    ]
    return [
        {"type": "actions", "elements": elements[start : start + BUTTONS_PER_BLOCK]}
        for start in range(0, len(elements), BUTTONS_PER_BLOCK)
    ]


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "plain_text", "text": text[:MAX_TEXT] or "…"}}


def receiver(body: Mapping[str, Any]) -> str:
    """Which installation a payload is for: the app and the workspace (or Grid org)."""
    team = body.get("team_id") or (body.get("team") or {}).get("id")
    enterprise = body.get("enterprise_id") or (body.get("enterprise") or {}).get("id")
    return f"{body.get('api_app_id')}:{team or enterprise}"


def chat_lock(body: Mapping[str, Any]) -> str:
    """The queue's lock for the chat a payload comes from: its jobs run one at a time.

    ``slack:<workspace>:<conversation>``, for events (``event.channel``) and button
    presses (``channel.id``, or the message's container) alike.
    """
    team = body.get("team_id") or (body.get("team") or {}).get("id")
    team = team or body.get("enterprise_id") or (body.get("enterprise") or {}).get("id")
    channel = (body.get("event") or {}).get("channel")
    if not channel and isinstance(body.get("channel"), Mapping):
        channel = body["channel"].get("id")
    channel = channel or (body.get("container") or {}).get("channel_id")
    return f"{CHANNEL}:{team}:{channel}"


def to_incoming(body: Mapping[str, Any]) -> Incoming | None:
    """The neutral form of an event or button press we act on; None for anything else.

    The user's locale and confirmed e-mail are not in the payload: the caller adds them
    from ``users.info``. Event ids are Slack's per app, so the delivery id names the app
    and workspace too.
    """
    workspace = body.get("team_id") or (body.get("team") or {}).get("id")
    if body.get("type") == "block_actions":
        user = (body.get("user") or {}).get("id")
        actions = body.get("actions") or []
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id"
        )
        if not user or not actions or not channel:
            return None
        action = actions[0]
        # A click is one delivery; Slack does not resend interactivity payloads.
        click = f"action:{body.get('trigger_id')}:{action.get('action_ts')}"
        return Incoming(
            channel=CHANNEL,
            user_id=str(user),
            chat_id=str(channel),
            action=str(action.get("value") or ""),
            delivery_id=delivery_key(receiver(body), click),
            private=str(channel).startswith("D"),
            workspace=workspace,
        )
    event = body.get("event") or {}
    kind = event.get("type")
    if kind not in ("message", "app_mention") or "user" not in event or "channel" not in event:
        return None
    if kind == "message" and (event.get("subtype") or event.get("bot_id")):
        return None  # edits, joins, our own messages
    event_id = body.get("event_id")
    return Incoming(
        channel=CHANNEL,
        user_id=str(event["user"]),
        chat_id=str(event["channel"]),
        text=str(event.get("text") or ""),
        delivery_id=delivery_key(receiver(body), str(event_id)) if event_id else None,
        message_id=event.get("ts") if kind == "message" else None,
        private=kind == "message" and event.get("channel_type") == "im",
        workspace=workspace,
    )


@register
class SlackAdapter:
    """One Slack app: the Bolt app, the engine, and delivery of replies and notices."""

    channel = CHANNEL
    capabilities = CAPABILITIES

    def __init__(self, services: Services, engine: Engine, app: AsyncApp) -> None:
        self.services = services
        self.engine = engine
        self.app = app
        self._profiles: dict[str, tuple[float, str | None, str | None]] = {}
        app.event("message")(self._on_event)
        app.event("app_mention")(self._on_event)
        app.action(re.compile(r"^choice-\d+$"))(self._on_action)
        # The profile's staff channel, if any: cases, their threads and buttons.
        self.staff = staff_slack.staff_desk(services, app.client)
        app.action(re.compile(staff_slack.ACTION_PATTERN))(self._on_case_action)
        # The work after each ack, queued; run by a job worker (core/jobs.py).
        self.jobs = services.jobs
        self._after_ack = self.jobs.replace_task(AFTER_ACK_TASK, self.after_ack, retry=RETRY)
        self.background = BackgroundDelivery(services, CHANNEL, self.send)

    @classmethod
    def build(
        cls, services: Services, engine: Engine, *, socket_mode: bool = False
    ) -> SlackAdapter:
        """The app; HTTP events need the signing secret, Socket Mode does not."""
        settings = services.settings
        if settings.slack_bot_token is None:
            raise ValueError("set HELPDESK_SLACK_BOT_TOKEN")
        if settings.slack_signing_secret is None and not socket_mode:
            raise ValueError("set HELPDESK_SLACK_SIGNING_SECRET")
        client = AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url,
            # slack-sdk only retries connection errors by default; also wait out a 429.
            retry_handlers=[
                *async_default_handlers(),
                AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            ],
        )
        app = AsyncApp(
            client=client,
            signing_secret=(
                settings.slack_signing_secret.get_secret_value()
                if settings.slack_signing_secret is not None
                else None
            ),
            # The listeners only queue the work: Bolt acknowledges once it is queued.
            process_before_response=True,
        )
        return cls(services, engine, app)

    @classmethod
    def from_settings(cls, services: Services, engine: Engine) -> SlackAdapter | None:
        """The HTTP events adapter when the bot token and signing secret are set."""
        settings = services.settings
        if settings.slack_bot_token is None or settings.slack_signing_secret is None:
            return None
        return cls.build(services, engine)

    @classmethod
    def commands(cls) -> typer.Typer:
        from bot.cli.slack import slack_app

        return slack_app

    def routes(self) -> list[BaseRoute]:
        return [Route("/slack/events", self.events, methods=["POST"])]

    async def startup(self) -> None:
        """One aiohttp session for the Web API client, its calls counted.

        ``helpdesk_platform_api_calls_total{platform="slack"}`` counts each request
        (retries included) as ok, error or rate_limited. The session is made here, in the
        serving event loop (aiohttp makes none outside one); until then, and after
        ``shutdown``, slack-sdk opens a session per call, uncounted.

        Then the job queue opens, with its worker in this process unless ``job_worker``
        is ``separate`` (PostgreSQL): events are queued from here on.
        """
        session = self.client.session
        if session is None or session.closed:
            self.client.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.client.timeout),
                trace_configs=[platform_trace(CHANNEL)],
            )
        await self.jobs.start()

    async def shutdown(self) -> None:
        """Stop the job worker (running jobs finish, or run again later), then the session."""
        await self.jobs.stop()
        session, self.client.session = self.client.session, None
        if session is not None and not session.closed:
            await session.close()

    @property
    def client(self) -> AsyncWebClient:
        return self.app.client

    # -- inbound -------------------------------------------------------------------------

    async def _profile(self, user: str) -> tuple[str | None, str | None]:
        """The user's Slack locale and confirmed e-mail (users.info), cached briefly."""
        cached = self._profiles.get(user)
        if cached is not None and time.monotonic() - cached[0] < PROFILE_TTL:
            return cached[1], cached[2]
        locale = email = None
        with contextlib.suppress(SlackApiError):
            info = await self.client.users_info(user=user, include_locale=True)
            data = info.get("user") or {}
            locale = data.get("locale")
            if data.get("is_email_confirmed"):
                email = (data.get("profile") or {}).get("email")
        self._profiles[user] = (time.monotonic(), locale, email)
        return locale, email

    async def _on_event(self, body: dict[str, Any]) -> None:
        staff = self.staff is not None and staff_slack.is_staff_event(self.staff, body)
        if staff or to_incoming(body) is not None:  # edits, joins, our own posts: nothing
            await self._enqueue("event", body)
        # Bolt acknowledges when this returns.

    async def _on_case_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await self._enqueue("case", body)
        await ack()

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await self._enqueue("action", body)
        await ack()  # within Slack's 3 seconds; the work comes after, in a job

    async def _enqueue(self, kind: str, body: dict[str, Any]) -> None:
        """Queue the work after the ack, behind the chat's earlier jobs."""
        event_id = body.get("event_id")
        await self.jobs.defer(
            self._after_ack,
            lock=chat_lock(body),
            # Slack's retry of an event that is still waiting in the queue adds nothing.
            queueing_lock=f"{CHANNEL}:{receiver(body)}:{event_id}" if event_id else None,
            kind=kind,
            sealed=self.jobs.sealer.seal(body),
        )

    async def after_ack(self, kind: str, sealed: str) -> None:
        """The job: what follows the ack of an event or a button press.

        ``kind`` is ``event``, ``action`` (a chat's button) or ``case`` (the staff
        channel's). A failure is retried (``core.jobs.RETRY``); the engine's dedupe makes
        a turn that already ran a no-op, so a retry never answers twice.
        """
        body = self.jobs.sealer.open(sealed)
        if kind == "case":
            if self.staff is not None:
                await staff_slack.on_button(self.staff, body)
        elif self.staff is not None and staff_slack.is_staff_event(self.staff, body):
            await staff_slack.on_event(self.staff, body)
        else:
            await self._handle(body)

    async def _handle(self, body: dict[str, Any]) -> None:
        incoming = to_incoming(body)
        if incoming is None:
            return
        locale, email = await self._profile(incoming.user_id)
        incoming = replace(incoming, locale_hint=locale, verified_email=email)
        await self.send(incoming.chat_id, await self.engine.handle(incoming), locale)

    # -- outbound ------------------------------------------------------------------------

    async def send(self, channel: str, replies: list[Reply], locale: str | None = None) -> None:
        for reply in replies:
            match reply:
                case Text(text):
                    await self.client.chat_postMessage(channel=channel, text=text[:MAX_TEXT])
                case Choices(text, choices):
                    await self.client.chat_postMessage(
                        channel=channel,
                        text=text[:MAX_TEXT],
                        blocks=[section(text), *buttons(choices)],
                    )
                case Image() as image:
                    await self._post_image(channel, image)
                case Edit(key, image):
                    await self._update_image(channel, key, image)
                case DeleteUserMessage():
                    # Slack lets no bot delete a user's message: say how to do it.
                    t = Translator(normalise_locale(locale) or "zh_TW")
                    await self.client.chat_postMessage(channel=channel, text=t._(HOW_TO_DELETE))

    async def _blocks(self, image: Image) -> list[dict[str, Any]]:
        upload = await self.client.files_upload_v2(
            content=image.png, filename="alumni-card.png", title="alumni card"
        )
        file_id = upload["file"]["id"] if upload.get("file") else upload["files"][0]["id"]
        blocks: list[dict[str, Any]] = [
            {"type": "image", "slack_file": {"id": file_id}, "alt_text": image.caption[:200]},
            section(image.caption),
        ]
        blocks.extend(buttons(image.choices))
        return blocks

    async def _post_image(self, channel: str, image: Image) -> None:
        posted = await self.client.chat_postMessage(
            channel=channel, text=image.caption[:MAX_TEXT], blocks=await self._blocks(image)
        )
        if image.key:
            await remember(
                self.services.sessions,
                channel=CHANNEL,
                chat_id=channel,
                key=image.key,
                message_id=str(posted["ts"]),
                now=self.services.clock.now(),
            )

    async def _update_image(self, channel: str, key: str, image: Image) -> None:
        ts = await recall(self.services.sessions, channel=CHANNEL, chat_id=channel, key=key)
        if ts is None:
            await self._post_image(channel, image)
            return
        await self.client.chat_update(
            channel=channel, ts=ts, text=image.caption[:MAX_TEXT], blocks=await self._blocks(image)
        )

    async def deliver_background(self) -> None:
        """One round of the ``slack.delivery`` job: notices, due card refreshes, cases."""
        async with self.background.lock:
            await self.background.deliver()
            await staff_round(self.services, self.staff)

    async def events(self, request: Request) -> Response:
        """POST /slack/events: events and interactivity, checked before Bolt parses them.

        The size is capped before reading, the signature and timestamp are checked on
        the raw bytes before anything parses them, and a signed body that does not
        parse is refused with 400, never a traceback.
        """
        body = await read_body(request, MAX_REQUEST_BYTES)
        if body is None:
            return Response(status_code=413)
        try:
            text = body.decode()
        except UnicodeDecodeError:
            return Response(status_code=400)  # Slack sends UTF-8; its signature covers text
        refusal = self._check_signature(request, text)
        if refusal is not None:
            return refusal
        try:
            bolt_request = AsyncBoltRequest(
                body=text,
                query=request.query_params,  # type: ignore[arg-type]
                headers=request.headers,  # type: ignore[arg-type]
            )
        except (ValueError, RecursionError, AttributeError, TypeError):
            # Not JSON, nested too deep, or not an object Bolt can read.
            return Response(status_code=400)
        return to_starlette_response(await self.app.async_dispatch(bolt_request))

    def _check_signature(self, request: Request, body: str) -> Response | None:
        """401 unless signed with our secret within five minutes; 400 for a garbled stamp."""
        secret = self.services.settings.slack_signing_secret
        stamp = request.headers.get("x-slack-request-timestamp")
        signature = request.headers.get("x-slack-signature")
        if secret is None or stamp is None or signature is None:
            return Response(status_code=401)
        if not _TIMESTAMP.fullmatch(stamp):
            return Response(status_code=400)
        verifier = SignatureVerifier(secret.get_secret_value())
        if not verifier.is_valid(body=body, timestamp=stamp, signature=signature):
            return Response(status_code=401)
        return None
