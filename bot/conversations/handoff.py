"""Talk to a person (issue 21 §2): open a case for the help desk, relay, end and rate it.

    handoff:      start ──(a case is open)──> OPEN: end it, or back to the menu
                        ──(else)──> QUESTION: what the user needs ──> case opened, done
    handoff_end:  start: the user ends the open case ──> RATE: 1-5 or skip ──> done

While a case is open, what the user types at the menu goes to the help desk
(``bot.desk.relay_to_case``, called by the engine); staff answers arrive as chat notices.
When staff close a case (or it idles out) the chat is put in ``handoff_end``'s RATE.

Staff see the linked person's first account: from the bot's tables, or from the LDAP or
AD entry the chat is linked to (a directory that does not answer leaves the case naming
the chat user, never keeps it from opening).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from bot.conversations.common import too_many_cases
from bot.desk import END_CASE as END
from bot.desk import TALK_TO_A_PERSON, sentences
from bot.flow import Answer, Context, Flow, Step, register
from bot.types import Reply, Text
from core import cases
from core.accounts import account_names
from core.directory import DirectoryUnavailable
from core.models import Case

TALK = TALK_TO_A_PERSON


class HandoffState(StrEnum):
    QUESTION = "question"
    OPEN = "open"


class RateState(StrEnum):
    RATE = cases.RATING_STATE


@register
class Handoff(Flow):
    name = cases.FLOW
    title = TALK
    states = HandoffState
    order = 900  # last in the menu: the way out when nothing else helped

    async def start(self, ctx: Context) -> Step:
        case = await cases.open_case_of(ctx.session, ctx.incoming.channel, ctx.incoming.chat_id)
        if case is not None:
            ctx.data["case"] = case.id
            return Step.goto(HandoffState.OPEN)
        now = ctx.services.clock.now()
        limit = ctx.services.profile.handoff.cases_per_chat_per_day
        if await cases.opened_since(ctx.session, ctx.actor, now - dt.timedelta(days=1)) >= limit:
            ctx.audit("case_opened", "rate_limited")
            return Step.done(too_many_cases(ctx))
        return Step.goto(HandoffState.QUESTION)

    async def prompt(self, ctx: Context, state: str) -> list[Reply]:
        if state == HandoffState.OPEN:
            return [
                ctx.choices(
                    ctx._(
                        "Your case #{case} is open: what you type here goes to the help desk, "
                        "and their answers come to this chat.",
                        case=ctx.data.get("case"),
                    ),
                    [("end", ctx._(END)), ("menu", ctx._("Back to the menu"))],
                )
            ]
        return [
            Text(
                ctx._(
                    "What do you need help with? Describe it in a few words and a person at "
                    "the help desk will read it. Never send a password, ID number or code."
                )
            )
        ]

    async def handle(self, ctx: Context, state: str, answer: Answer) -> Step:
        if state == HandoffState.OPEN:
            if answer.choice == "end":
                return Step.done(show_menu=False, then=cases.RATING_FLOW)
            if answer.choice == "menu":
                return Step.done()
            return Step.stay(state, *await self.prompt(ctx, state))
        if not answer.text:
            return Step.stay(state, *await self.prompt(ctx, state))
        return Step.done(*await self._open(ctx, answer.text))

    async def _open(self, ctx: Context, question: str) -> list[Reply]:
        services = ctx.services
        now = services.clock.now()
        case = await cases.open_case(
            ctx.session,
            profile=services.profile,
            channel=ctx.incoming.channel,
            chat_id=ctx.incoming.chat_id,
            actor=ctx.actor,
            person_id=ctx.identity.person_id,
            account=await _account_name(ctx),
            locale=ctx.locale,
            question=question,
            steps=await cases.recent_steps(ctx.session, ctx.actor, now),
            now=now,
        )
        parts = [
            ctx._(
                "Your case number is #{case}. A person at the help desk will answer in this "
                "chat; anything you type here goes to them until the case is closed. To end "
                'it, choose "Talk to a person" in the menu.',
                case=case.id,
            )
        ]
        opening = cases.next_opening(services.profile.handoff, services.profile.zone, now)
        if opening is not None:
            parts.append(
                ctx._(
                    "The help desk is closed now; someone will answer from {time} (Taiwan time).",
                    time=opening.strftime("%Y-%m-%d %H:%M"),
                )
            )
        return [Text(sentences(ctx, *parts))]


@register
class EndCase(Flow):
    """The user ends their open case, then rates it; staff closing lands in RATE too."""

    name = cases.RATING_FLOW
    title = END
    states = RateState
    in_menu = False

    async def start(self, ctx: Context) -> Step:
        case = await cases.open_case_of(ctx.session, ctx.incoming.channel, ctx.incoming.chat_id)
        if case is None:
            return Step.done(Text(ctx._("You have no open case with the help desk.")))
        now = ctx.services.clock.now()
        await cases.close(ctx.session, case, by="user", channel=ctx.incoming.channel, now=now)
        ctx.data["case"] = case.id
        return Step.goto(RateState.RATE, Text(ctx._("Case #{case} is closed.", case=case.id)))

    async def prompt(self, ctx: Context, state: str) -> list[Reply]:
        options = [(f"rate:{n}", str(n)) for n in cases.RATINGS]
        options.append(("rate:skip", ctx._("Skip")))
        return [
            ctx.choices(
                ctx._("How helpful was the help desk? 1 is not at all, 5 is very."), options
            )
        ]

    async def handle(self, ctx: Context, state: str, answer: Answer) -> Step:
        value = (answer.choice or "").removeprefix("rate:")
        if value == "skip":
            return Step.done()
        if not value.isdigit():
            return Step.stay(state, *await self.prompt(ctx, state))
        case = await ctx.session.get(Case, int(ctx.data.get("case") or 0))
        if case is not None and case.chat_id == ctx.incoming.chat_id:
            cases.rate(ctx.session, case, int(value), actor=ctx.actor, now=ctx.services.clock.now())
        return Step.done(Text(ctx._("Thank you for your rating.")))


async def _account_name(ctx: Context) -> str | None:
    """The linked person's first account, for staff to see; None when not linked."""
    if ctx.identity.person_id is not None:
        names = await account_names(ctx.session, ctx.identity.person_id)
        return names[0] if names else None
    if ctx.identity.directory_owner is None:
        return None
    try:
        accounts = await ctx.services.directories(ctx.session).accounts_of(
            ctx.identity.directory_owner
        )
    except DirectoryUnavailable:
        ctx.audit("case_account", "unavailable")
        return None
    return accounts[0].name if accounts else None
