"""The conversation engine: one step per incoming message, per chat, in one transaction.

Per chat it dedupes the delivery, loads and locks the conversation (a row lock on
PostgreSQL; SQLite's write lock, taken by BEGIN IMMEDIATE), runs one step of the
active flow and stores the new state with its version in the same transaction as
the step's own writes. A crash at any point leaves the previous state intact.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    FromClause,
    Row,
    Select,
    Table,
    bindparam,
    exists,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from bot import commands
from bot.choices import match_choice, offered_choices
from bot.desk import (
    HANDOFF_FLOW,
    contact_text,
    offer_person,
    relay_to_case,
    sentences,
)
from bot.flow import (
    CHOICE_WORDS_KEY,
    CHOICES_KEY,
    REGISTRY,
    Answer,
    Context,
    Flow,
    Step,
    menu_flows,
)
from bot.observe import observed, stepped
from bot.services import Services
from bot.text import clean_input, looks_like_password
from bot.types import DeleteUserMessage, Incoming, Reply, Text
from core import faq
from core.db import insert
from core.deliveries import RETENTION
from core.faq import Candidate
from core.i18n import DEFAULT_LOCALE, LOCALES, N_, Translator, normalise_locale
from core.models import Base, ChatIdentity, ConversationState, ProcessedDelivery

log = logging.getLogger(__name__)

PASTED_PASSWORD = N_(
    "That looks like a password. Never send a password in a chat: chat history is kept "
    "on the platform's servers. I removed your message where this app lets me; if it is "
    'still there, delete it yourself. If it is a real password, change it: choose "Change '
    'my password" (or "I forgot my password") in the menu, /menu, and I will mail you a '
    "link to a page where you set a new one safely."
)
LINK_FLOW = "link"
MISSES_KEY = "_misses"  # free-text questions not understood in a row
OFFER_PERSON_AFTER = 2
REACH_A_PERSON = N_(
    'To reach a person at the help desk, choose "Talk to a person" in the menu; '
    "they answer in this chat."
)
LANGUAGE_NAMES = {"zh_TW": "中文（臺灣）", "en": "English"}
# What a flow prepared before the step: (flow, state, data), used if the state still is.
Prepared = tuple[str, str, dict[str, Any]] | None
# The hot path's statements are SQLAlchemy Core over the tables themselves.
_CONVERSATIONS: Table = Base.metadata.tables[ConversationState.__tablename__]
_IDENTITIES: Table = Base.metadata.tables[ChatIdentity.__tablename__]
_DELIVERIES: Table = Base.metadata.tables[ProcessedDelivery.__tablename__]
_IDENTITY_PREFIX = "identity_"


class _PrepareFirst(Exception):
    """The chat is in a flow with slow preparation: roll back, prepare, step again."""

    def __init__(self, flow: Flow, state: str) -> None:
        super().__init__(flow.name, state)
        self.flow = flow
        self.state = state


def _new_nonce() -> str:
    return secrets.token_urlsafe(6)


class Engine:
    """Turns an ``Incoming`` into replies; holds no per-chat state in memory."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @observed
    async def handle(self, incoming: Incoming) -> list[Reply]:
        """Process one message or button press; an empty one re-asks the current question."""
        try:
            try:
                return await self._turn(incoming)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                # A pooled connection the server had dropped (a restart; there is no
                # pre-ping): nothing was committed, so the turn runs again on a new one.
                log.info("stale database connection replaced")
                return await self._turn(incoming)
        except (OperationalError, DBAPIError, OSError) as exc:
            log.warning("database unavailable: %s", type(exc).__name__)
            translator = Translator(normalise_locale(incoming.locale_hint) or DEFAULT_LOCALE)
            return [
                Text(
                    translator._(
                        "The service is temporarily unavailable. Nothing was changed; "
                        "please try again in a few minutes."
                    )
                )
            ]

    async def _turn(self, incoming: Incoming) -> list[Reply]:
        """One transaction: claim the delivery, lock the chat, step, store the state.

        A plain turn is two statements on PostgreSQL: the claim together with the lock
        (creating the chat's rows on its first turn), and the state's update; on SQLite
        the claim is a statement of its own. A typed answer in a flow that
        prepares (``Flow.prepare``: hashing) rolls the first attempt back as soon as it
        sees the state, prepares with no transaction open and steps again, so no other
        turn pays for reading the state twice.
        """
        prepared: Prepared = None
        attempted = False
        while True:
            try:
                async with self.services.sessions() as session, session.begin():
                    locked = await self._claim_and_lock(session, incoming)
                    if locked is None:
                        log.info("duplicate delivery skipped channel=%s", incoming.channel)
                        return []
                    conversation, identity = locked
                    if not attempted:
                        _check_prepared(conversation, incoming)
                    version = conversation.version
                    replies = await self._step(session, conversation, identity, incoming, prepared)
                    if conversation.version != version:
                        await self._store(session, conversation)
                    return replies
            except _PrepareFirst as first:
                attempted = True
                assert incoming.text is not None
                text = clean_input(incoming.text)
                data = await first.flow.prepare(self.services, first.state, text)
                prepared = (first.flow.name, first.state, data) if data else None

    # -- storage -------------------------------------------------------------------

    async def _claim_delivery(self, session: AsyncSession, incoming: Incoming) -> bool:
        """Record the delivery; False if it was processed within the retention window.

        A row older than ``RETENTION`` is one the purge has not reached yet: the platform
        no longer redelivers that far back, so the id is someone's new message (Telegram
        reuses update ids) and the row is taken over.
        """
        assert incoming.delivery_id is not None
        now = self.services.clock.now()
        statement = _statements(session).claim
        parameters = {
            "b_channel": incoming.channel,
            "b_delivery_id": incoming.delivery_id,
            "b_processed_at": now,
            "stale_before": now - RETENTION,
        }
        return (await session.execute(statement, parameters)).scalar() is not None

    async def _claim_and_lock(
        self, session: AsyncSession, incoming: Incoming
    ) -> tuple[ConversationState, ChatIdentity] | None:
        """Claim the delivery and lock the chat; None if the delivery was a duplicate."""
        statements = _statements(session)
        if incoming.delivery_id is None:
            return await self._lock(session, incoming, statements.lock)
        if statements.claim_and_lock is None:  # SQLite
            if not await self._claim_delivery(session, incoming):
                return None
            return await self._lock(session, incoming, statements.lock)
        now = self.services.clock.now()
        claim = {
            "b_channel": incoming.channel,
            "b_delivery_id": incoming.delivery_id,
            "b_processed_at": now,
            "stale_before": now - RETENTION,
        }
        return await self._lock(session, incoming, statements.claim_and_lock, claim)

    async def _lock(
        self,
        session: AsyncSession,
        incoming: Incoming,
        statement: Select[Any],
        claim: dict[str, Any] | None = None,
    ) -> tuple[ConversationState, ChatIdentity] | None:
        """Lock the chat's conversation and its user's identity, creating them if new.

        One statement in the usual case: on PostgreSQL a CTE that locks both rows (the
        conversation ``FOR UPDATE``, the identity ``FOR NO KEY UPDATE``, so a step that
        waited for another reads what that one committed) and inserts whichever is
        missing, after claiming the delivery when ``claim`` gives its parameters (a
        duplicate locks nothing and gives None); on SQLite, whose ``BEGIN IMMEDIATE``
        already holds the database, a join. Two first turns of one chat racing each
        other fall back to inserting and locking one statement at a time.
        """
        now = self.services.clock.now()
        nonce = _new_nonce()
        parameters = {
            "channel": incoming.channel,
            "chat_id": incoming.chat_id,
            "user_id": incoming.user_id,
            "nonce": nonce,
            "now": now,
            "locale": normalise_locale(incoming.locale_hint),
            **(claim or {}),
        }
        row = (await session.execute(statement, parameters)).first()
        if claim is not None and (row is None or not row.claimed):
            return None
        if row is None or row.chat_id is None or getattr(row, f"{_IDENTITY_PREFIX}id") is None:
            return await self._create_and_lock(session, incoming, now, nonce)
        return _conversation(row), _attach(session, row)

    async def _create_and_lock(
        self, session: AsyncSession, incoming: Incoming, now: dt.datetime, nonce: str
    ) -> tuple[ConversationState, ChatIdentity]:
        conversations, identities = _CONVERSATIONS, _IDENTITIES
        await session.execute(
            insert(session, ConversationState)
            .values(
                channel=incoming.channel,
                chat_id=incoming.chat_id,
                data={},
                nonce=nonce,
                version=0,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )
        await session.execute(
            insert(session, ChatIdentity)
            .values(
                channel=incoming.channel,
                platform_user_id=incoming.user_id,
                locale=normalise_locale(incoming.locale_hint),
                created_at=now,
            )
            .on_conflict_do_nothing()
        )
        conversation = (
            await session.execute(
                select(*conversations.c)
                .where(
                    conversations.c.channel == incoming.channel,
                    conversations.c.chat_id == incoming.chat_id,
                )
                .with_for_update()
            )
        ).one()
        identity = (
            await session.execute(
                select(*_identity_columns(identities)).where(
                    identities.c.channel == incoming.channel,
                    identities.c.platform_user_id == incoming.user_id,
                )
            )
        ).one()
        return _conversation(conversation), _attach(session, identity)

    async def _store(self, session: AsyncSession, conversation: ConversationState) -> None:
        """Write the step's new state (its other writes are flushed at commit)."""
        await session.execute(
            _statements(session).store,
            {
                "b_channel": conversation.channel,
                "b_chat_id": conversation.chat_id,
                "new_flow": conversation.flow,
                "new_state": conversation.state,
                "new_data": conversation.data,
                "new_nonce": conversation.nonce,
                "new_version": conversation.version,
                "new_updated_at": conversation.updated_at,
            },
        )

    # -- one step --------------------------------------------------------------------

    async def _step(
        self,
        session: AsyncSession,
        conversation: ConversationState,
        identity: ChatIdentity,
        incoming: Incoming,
        prepared: Prepared = None,
    ) -> list[Reply]:
        hinted = normalise_locale(incoming.locale_hint)
        if hinted is not None and not identity.locale_chosen and identity.locale != hinted:
            # Remembered for what reaches the chat outside a turn (staff notices, reminders).
            identity.locale = hinted
        translator = Translator(identity.locale or DEFAULT_LOCALE)
        if not incoming.private:
            return [
                Text(
                    translator._(
                        "For your privacy I handle account questions only in a direct chat. "
                        "Please send me a direct message."
                    )
                )
            ]

        now = self.services.clock.now()
        previous_nonce = conversation.nonce
        ctx = Context(
            session=session,
            services=self.services,
            incoming=incoming,
            identity=identity,
            translator=translator,
            nonce=_new_nonce(),
            data=dict(conversation.data),
        )
        if prepared is not None and prepared[:2] == (conversation.flow, conversation.state):
            ctx.prepared = prepared[2]
        replies: list[Reply] = []
        flow = REGISTRY.get(conversation.flow) if conversation.flow else None
        state = conversation.state
        timeout = dt.timedelta(minutes=self.services.profile.lifetimes.conversation_timeout_minutes)
        if flow is not None and now - conversation.updated_at > timeout:
            replies.append(
                Text(
                    ctx._(
                        "Your earlier conversation was ended after {minutes} minutes without "
                        "an answer. Nothing was changed.",
                        minutes=self.services.profile.lifetimes.conversation_timeout_minutes,
                    )
                )
            )
            flow, state = None, None
            ctx.data.clear()
        elif conversation.flow and flow is None:
            # A flow that no longer exists (removed in an upgrade): start over.
            state = None
            ctx.data.clear()
        elif flow is not None and state not in {s.value for s in flow.states}:
            # A state the flow no longer declares (renamed in an upgrade): start over.
            log.warning("unknown state dropped flow=%s", flow.name)
            flow, state = None, None
            ctx.data.clear()

        offered = offered_choices(ctx.data.pop(CHOICES_KEY, []), ctx.data.pop(CHOICE_WORDS_KEY, {}))
        answer: Answer | None = None
        if incoming.action is not None:
            nonce, _, value = incoming.action.partition(":")
            if nonce != previous_nonce or value not in offered:
                replies.append(
                    Text(ctx._("That button belongs to an earlier message and no longer works."))
                )
            else:
                answer = Answer(choice=value)
        elif incoming.text is not None:
            text = clean_input(incoming.text)
            command = commands.parse(text)
            if command is not None:
                answer = Answer(choice=command)
            elif not text:
                replies.append(Text(ctx._("I can only read text. Please type your answer.")))
            elif looks_like_password(text) and match_choice(text, offered) is None:
                # Chat history lives on the platform's servers: never keep a password there.
                replies.append(DeleteUserMessage(incoming.message_id))
                replies.append(Text(ctx._(PASTED_PASSWORD)))
            else:
                answer = Answer(text=text, choice=match_choice(text, offered))

        if answer is not None and answer.choice is not None and _is_global(answer.choice):
            flow, state = await self._global(ctx, flow, state, answer.choice, replies)
        elif answer is not None and flow is not None and state is not None:
            ctx.flow = flow.name
            step = await flow.handle(ctx, state, answer)
            flow, state = await self._apply(ctx, flow, step, replies)
        elif answer is not None and flow is None and answer.text is not None:
            relayed = await relay_to_case(ctx, answer.text)
            if relayed is not None:
                replies.extend(relayed)
            else:
                flow, state = await self._free_text(ctx, answer.text, replies)
        else:
            replies.extend(await self._ask(ctx, flow, state))

        conversation.flow = flow.name if flow is not None else None
        conversation.state = state if flow is not None else None
        conversation.data = dict(ctx.data)
        conversation.nonce = ctx.nonce
        conversation.version += 1
        conversation.updated_at = now
        log.info(
            "step channel=%s actor=%s flow=%s state=%s version=%s",
            incoming.channel,
            ctx.actor,
            conversation.flow,
            conversation.state,
            conversation.version,
        )
        stepped(conversation.flow or ctx.flow)
        return replies

    async def _apply(
        self, ctx: Context, flow: Flow, step: Step, replies: list[Reply]
    ) -> tuple[Flow | None, str | None]:
        ctx.flow = flow.name
        replies.extend(step.replies)
        if step.next is None:
            ctx.data.clear()
            if step.then in REGISTRY:
                return await self._begin(ctx, REGISTRY[step.then], replies)
            if step.show_menu:
                replies.extend(self._menu(ctx))
            return None, None
        if step.ask:
            replies.extend(await flow.prompt(ctx, step.next))
        return flow, step.next

    async def _begin(
        self, ctx: Context, flow: Flow, replies: list[Reply]
    ) -> tuple[Flow | None, str | None]:
        """Start ``flow``; one that needs a linked chat starts with linking instead."""
        if flow.needs_link and not ctx.identity.linked and LINK_FLOW in REGISTRY:
            replies.append(
                Text(ctx._("First, let us link this chat to your account. It takes a minute."))
            )
            ctx.data["then"] = flow.name
            flow = REGISTRY[LINK_FLOW]
        ctx.flow = flow.name
        return await self._apply(ctx, flow, await flow.start(ctx), replies)

    async def _free_text(
        self, ctx: Context, text: str, replies: list[Reply]
    ) -> tuple[Flow | None, str | None]:
        """A question typed at the menu: start its flow, show its FAQ answer, or ask.

        ``core.faq`` ranks the flows' examples and the profile's FAQ answers; a single
        likely intent is acted on, close ones are offered as "did you mean", and below
        its threshold the menu is offered with the helpdesk to contact.
        """
        misses = int(ctx.data.pop(MISSES_KEY, 0))
        found = faq.for_profile(self.services.profile.name).match(text)
        candidates = [c for c in found.candidates if c.kind == "faq" or c.key in REGISTRY]
        if len(candidates) == 1:
            best = candidates[0]
            ctx.audit("free_text", "routed", kind=best.kind, key=best.key)
            if best.kind == "flow":
                return await self._begin(ctx, REGISTRY[best.key], replies)
            replies.extend(self._faq_answer(ctx, best.key))
            return None, None
        if candidates:
            ctx.audit("free_text", "ambiguous")
            options = [(f"{c.kind}:{c.key}", self._intent_title(ctx, c)) for c in candidates]
            options.append((f"cmd:{commands.START}", ctx._("Something else")))
            replies.append(ctx.choices(ctx._("Did you mean one of these?"), options))
            return None, None
        ctx.audit("free_text", "not_understood")
        if misses + 1 >= OFFER_PERSON_AFTER and HANDOFF_FLOW in REGISTRY:
            # Two misunderstandings in a row: a person may help where the menu did not.
            replies.append(
                ctx.choices(
                    sentences(
                        ctx,
                        ctx._("Sorry, I still could not match that."),
                        ctx._("A person at the help desk can help you in this chat."),
                    ),
                    [offer_person(ctx), (f"cmd:{commands.START}", ctx._("Show the menu"))],
                )
            )
            return None, None
        ctx.data[MISSES_KEY] = misses + 1
        replies.append(
            Text(
                sentences(
                    ctx,
                    ctx._("Sorry, I could not match that to anything I can help with."),
                    contact_text(ctx, "helpdesk"),
                )
            )
        )
        replies.extend(self._menu(ctx))
        return None, None

    def _intent_title(self, ctx: Context, candidate: Candidate) -> str:
        if candidate.kind == "flow":
            return ctx._(REGISTRY[candidate.key].title)
        entry = faq.for_profile(self.services.profile.name).answer(candidate.key, ctx.locale)
        return entry.title if entry is not None else candidate.key

    def _faq_answer(self, ctx: Context, key: str) -> list[Reply]:
        entry = faq.for_profile(self.services.profile.name).answer(key, ctx.locale)
        if entry is None:
            return self._menu(ctx)
        return [Text(f"{entry.title}\n\n{entry.body.strip()}"), *self._menu(ctx)]

    async def _ask(self, ctx: Context, flow: Flow | None, state: str | None) -> list[Reply]:
        if flow is not None and state is not None:
            ctx.flow = flow.name
            return await flow.prompt(ctx, state)
        return self._menu(ctx)

    async def _global(
        self,
        ctx: Context,
        flow: Flow | None,
        state: str | None,
        choice: str,
        replies: list[Reply],
    ) -> tuple[Flow | None, str | None]:
        kind, _, arg = choice.partition(":")
        if kind == "flow" and arg in REGISTRY:
            ctx.data.clear()
            return await self._begin(ctx, REGISTRY[arg], replies)
        if kind == "faq":
            ctx.data.clear()
            replies.extend(self._faq_answer(ctx, arg))
            return None, None
        if kind == "ask":
            ctx.data.clear()
            if flow is not None:
                replies.append(
                    Text(ctx._("The previous conversation was stopped. Nothing was changed."))
                )
            if not arg:
                replies.append(Text(ctx._("What is your question? Type it in your own words.")))
                return None, None
            return await self._free_text(ctx, arg, replies)
        if kind == "lang" and arg in LOCALES:
            ctx.identity.locale = arg
            ctx.identity.locale_chosen = True
            ctx.translator = Translator(arg)
            replies.append(Text(ctx._("Language set to English.")))
            replies.extend(await self._ask(ctx, flow, state))
            return flow, state
        if arg == commands.LANGUAGE:
            replies.append(
                ctx.choices(
                    ctx._("Choose your language:"),
                    [(f"lang:{code}", LANGUAGE_NAMES[code]) for code in LOCALES],
                )
            )
            return flow, state
        if arg == commands.HELP:
            replies.append(Text(ctx._(commands.HELP_TEXT)))
            if HANDOFF_FLOW in REGISTRY:
                replies.append(Text(ctx._(REACH_A_PERSON)))
            replies.extend(await self._ask(ctx, flow, state))
            return flow, state
        if arg == commands.CANCEL:
            if flow is None:
                replies.append(Text(ctx._("There is nothing to cancel.")))
            else:
                replies.append(Text(ctx._("Cancelled. Nothing was changed.")))
            ctx.data.clear()
            replies.extend(self._menu(ctx))
            return None, None
        # start / menu
        if flow is not None:
            replies.append(
                Text(ctx._("The previous conversation was stopped. Nothing was changed."))
            )
        ctx.data.clear()
        replies.append(
            Text(
                ctx._(
                    "Hello! I am the account helpdesk of {institution}. "
                    "Send /help at any time to see what you can say.",
                    institution=self.services.profile.display_name.get(ctx.locale),
                )
            )
        )
        replies.extend(self._menu(ctx))
        return None, None

    def _menu(self, ctx: Context) -> list[Reply]:
        options = [(f"flow:{f.name}", ctx._(f.title)) for f in menu_flows()]
        options.append((f"cmd:{commands.LANGUAGE}", ctx._(N_("Language / 語言"))))
        options.append((f"cmd:{commands.HELP}", ctx._(N_("Help"))))
        return [ctx.choices(ctx._("What can I help you with?"), options)]


def _prepares(flow: Flow) -> bool:
    return type(flow).prepare is not Flow.prepare


def _is_global(choice: str) -> bool:
    return choice.startswith(("cmd:", "lang:", "flow:", "faq:", "ask:"))


def _check_prepared(conversation: ConversationState, incoming: Incoming) -> None:
    """Raise ``_PrepareFirst`` if the chat's flow prepares typed answers and one came."""
    flow = REGISTRY.get(conversation.flow or "")
    if incoming.text is not None and flow is not None and conversation.state and _prepares(flow):
        raise _PrepareFirst(flow, conversation.state)


def _identity_columns(table: FromClause) -> list[Any]:
    return [column.label(f"{_IDENTITY_PREFIX}{column.name}") for column in table.c]


@dataclass(frozen=True)
class _Statements:
    """The hot path's statements for one dialect, built once with bind parameters.

    Building a CTE costs more CPU than running it; a statement built once is also
    compiled once (SQLAlchemy's cache) and prepared once per connection (asyncpg's).
    """

    claim: Any
    lock: Select[Any]
    store: Any
    claim_and_lock: Select[Any] | None  # PostgreSQL only


def _statements(session: AsyncSession) -> _Statements:
    return _built(session.get_bind().dialect.name)


@functools.cache
def _built(dialect: str) -> _Statements:
    conversations, deliveries = _CONVERSATIONS, _DELIVERIES
    upsert = postgresql.insert(deliveries) if dialect == "postgresql" else sqlite.insert(deliveries)
    claim = (
        upsert.values(
            channel=bindparam("b_channel", type_=deliveries.c.channel.type),
            delivery_id=bindparam("b_delivery_id", type_=deliveries.c.delivery_id.type),
            processed_at=bindparam("b_processed_at", type_=deliveries.c.processed_at.type),
        )
        .on_conflict_do_update(
            index_elements=[deliveries.c.channel, deliveries.c.delivery_id],
            set_={"processed_at": upsert.excluded.processed_at},
            where=deliveries.c.processed_at
            < bindparam("stale_before", type_=deliveries.c.processed_at.type),
        )
        .returning(deliveries.c.delivery_id)
    )
    store = (
        update(conversations)
        .where(
            conversations.c.channel == bindparam("b_channel", type_=conversations.c.channel.type),
            conversations.c.chat_id == bindparam("b_chat_id", type_=conversations.c.chat_id.type),
        )
        .values(
            {
                column: bindparam(f"new_{column}", type_=conversations.c[column].type)
                for column in ("flow", "state", "data", "nonce", "version", "updated_at")
            }
        )
    )
    if dialect != "postgresql":
        return _Statements(claim=claim, lock=_select_both(), store=store, claim_and_lock=None)
    return _Statements(
        claim=claim,
        lock=_lock_or_create(None),
        store=store,
        claim_and_lock=_lock_or_create(claim.cte("claim")),
    )


def _lock_or_create(claim: CTE | None) -> Select[Any]:
    """PostgreSQL: lock the conversation and the identity, inserting what is missing.

    ``INSERT ... SELECT ... WHERE NOT EXISTS`` rather than ``ON CONFLICT`` alone, so
    an existing identity does not use up a value of its id sequence on every turn.
    With ``claim`` (the delivery's upsert as a CTE) nothing is locked or inserted
    unless the delivery was claimed, and the row says whether it was (``claimed``).
    """
    claimed = exists(select(claim.c.delivery_id)) if claim is not None else true()
    conversations, identities = _CONVERSATIONS, _IDENTITIES
    channel = bindparam("channel", type_=conversations.c.channel.type)
    chat_id = bindparam("chat_id", type_=conversations.c.chat_id.type)
    user_id = bindparam("user_id", type_=identities.c.platform_user_id.type)
    now = bindparam("now", type_=conversations.c.updated_at.type)
    locked = (
        select(*conversations.c)
        .where(conversations.c.channel == channel, conversations.c.chat_id == chat_id, claimed)
        .with_for_update()
        .cte("locked")
    )
    created = (
        postgresql.insert(conversations)
        .from_select(
            ["channel", "chat_id", "data", "nonce", "version", "updated_at"],
            select(
                channel,
                chat_id,
                literal({}, conversations.c.data.type),
                bindparam("nonce", type_=conversations.c.nonce.type),
                literal(0, conversations.c.version.type),
                now,
            ).where(claimed, ~exists(select(locked.c.channel))),
        )
        .on_conflict_do_nothing()
        .returning(*conversations.c)
        .cte("created")
    )
    conversation = select(*locked.c).union_all(select(*created.c)).cte("conversation")
    known = (
        select(*identities.c)
        .where(identities.c.channel == channel, identities.c.platform_user_id == user_id, claimed)
        .with_for_update(key_share=True)
        .cte("known")
    )
    joined = (
        postgresql.insert(identities)
        .from_select(
            ["channel", "platform_user_id", "locale", "locale_chosen", "created_at"],
            select(
                channel,
                user_id,
                # The platform's hint, as the step would remember it (no second write).
                bindparam("locale", type_=identities.c.locale.type),
                literal(False, identities.c.locale_chosen.type),
                now,
            ).where(claimed, ~exists(select(known.c.id))),
        )
        .on_conflict_do_nothing()
        .returning(*identities.c)
        .cte("joined")
    )
    identity = select(*known.c).union_all(select(*joined.c)).cte("identity")
    if claim is None:
        return select(*conversation.c, *_identity_columns(identity)).select_from(
            conversation.join(identity, true(), full=True)
        )
    # One row whatever was found: whether the delivery was claimed, then the two rows.
    one = select(literal(1).label("one")).subquery("one")
    return select(
        claimed.label("claimed"), *conversation.c, *_identity_columns(identity)
    ).select_from(one.outerjoin(conversation, true()).outerjoin(identity, true()))


def _select_both() -> Select[Any]:
    """SQLite: the conversation and the identity in one read (the write lock is held)."""
    conversations, identities = _CONVERSATIONS, _IDENTITIES
    channel = bindparam("channel", type_=conversations.c.channel.type)
    return (
        select(*conversations.c, *_identity_columns(identities))
        .select_from(
            conversations.outerjoin(
                identities,
                (identities.c.channel == channel)
                & (identities.c.platform_user_id == bindparam("user_id")),
            )
        )
        .where(
            conversations.c.channel == channel,
            conversations.c.chat_id == bindparam("chat_id"),
        )
    )


def _conversation(row: Row[Any]) -> ConversationState:
    """The conversation as a plain object: ``Engine._store`` writes it, not the ORM."""
    values = row._mapping
    return ConversationState(**{column.name: values[column.name] for column in _CONVERSATIONS.c})


def _attach(session: AsyncSession, row: Row[Any]) -> ChatIdentity:
    """The identity as a loaded ORM object: a step's changes to it are flushed at commit."""
    values = row._mapping
    identity = ChatIdentity(
        **{column.name: values[f"{_IDENTITY_PREFIX}{column.name}"] for column in _IDENTITIES.c}
    )
    make_transient_to_detached(identity)
    session.add(identity)
    return identity
