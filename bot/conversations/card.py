"""The digital alumni card in chat, and applying for one (seed 003).

A linked alumnus with an active card gets its QR image, refreshed in place each time
the code changes while the card is open (the profile's open time, 15 minutes by
default), with "refresh now" and "close" buttons. Without a card they can apply for
an electronic card (首次申請); staff approve or reject it with ``helpdesk card``.

A card belongs to a person of the bot's own tables: a chat linked to an entry of an
LDAP or AD directory is told to ask the alumni centre, whose contact the profile gives.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import select, update

from bot.card_images import card_image, next_step_start, view_key
from bot.conversations.common import (
    CHOOSE,
)
from bot.desk import contact_text, sentences
from bot.flow import Answer, Context, Flow, Step, register
from bot.types import Edit, Image, Reply, Text
from core import card_applications, people
from core.i18n import N_
from core.models import AlumniCard, CardStatus, CardView

CARD_TYPE = "electronic"  # seed 003: 申請類型 電子


class State(StrEnum):
    SHOWING = "showing"  # the QR image with "refresh now" and "close"
    APPLY = "apply"  # no card: apply for an electronic one?


@register
class AlumniCardFlow(Flow):
    """Show my digital alumni card."""

    name = "card"
    title = N_("My alumni card")
    order = 37
    states = State
    needs_link = True

    async def start(self, ctx: Context) -> Step:
        if ctx.identity.person_id is None:
            return Step.done(_at_the_alumni_centre(ctx))
        card = await self._card(ctx)
        if card is None or card.status in (CardStatus.REJECTED, CardStatus.REVOKED):
            return Step.goto(State.APPLY)
        if card.status == CardStatus.PENDING:
            return Step.done(
                Text(
                    ctx._(
                        "Your application for an electronic alumni card of {date} is waiting "
                        "for review. You will be told here and by mail.",
                        date=card.applied_at.astimezone(ctx.services.profile.zone).date(),
                    )
                )
            )
        await self._open(ctx, card)
        return Step.goto(State.SHOWING)

    async def prompt(self, ctx: Context, state: str) -> list[Reply]:
        if State(state) is State.APPLY:
            return [
                ctx.choices(
                    _with_fee(ctx, await self._why_apply(ctx)),
                    [("apply", ctx._("Apply")), ("no", ctx._("Not now"))],
                )
            ]
        return [await self._image(ctx, edit=False)]

    async def _why_apply(self, ctx: Context) -> str:
        """Why there is no card to show: none yet, revoked, or not approved."""
        card = await self._card(ctx)
        zone = ctx.services.profile.zone
        if card is not None and card.status == CardStatus.REVOKED:
            return ctx._(
                "Your electronic alumni card (number {card}) was revoked on {date} and no "
                "longer works. Apply for a new electronic alumni card?",
                card=card.id,
                date=(card.decided_at or card.applied_at).astimezone(zone).date(),
            )
        if card is not None and card.status == CardStatus.REJECTED:
            return ctx._(
                "Your application for an electronic alumni card of {date} was not approved. "
                "Apply again?",
                date=card.applied_at.astimezone(zone).date(),
            )
        return ctx._("You have no electronic alumni card yet. Apply for one?")

    async def handle(self, ctx: Context, state: str, answer: Answer) -> Step:
        if State(state) is State.APPLY:
            if answer.choice == "apply":
                return Step.done(await self._apply(ctx))
            if answer.choice == "no":
                return Step.done()
            return Step.goto(State.APPLY, Text(ctx._(CHOOSE)))
        if answer.choice == "close":
            await self._close_views(ctx)
            return Step.done(Text(ctx._("The alumni card is closed.")))
        if answer.choice == "refresh":
            # The image is replaced in place; the buttons stay with it.
            return Step.stay(State.SHOWING, await self._image(ctx, edit=True))
        return Step.goto(State.SHOWING, Text(ctx._(CHOOSE)))

    async def _card(self, ctx: Context) -> AlumniCard | None:
        person_id = ctx.identity.person_id
        if person_id is None:
            return None
        return await ctx.session.scalar(
            select(AlumniCard)
            .where(AlumniCard.person_id == person_id)
            .order_by(AlumniCard.applied_at.desc(), AlumniCard.id.desc())
        )

    async def _close_views(self, ctx: Context) -> None:
        await ctx.session.execute(
            update(CardView)
            .where(
                CardView.channel == ctx.incoming.channel,
                CardView.chat_id == ctx.incoming.chat_id,
                CardView.closed_at.is_(None),
            )
            .values(closed_at=ctx.services.clock.now())
        )

    async def _open(self, ctx: Context, card: AlumniCard) -> None:
        await self._close_views(ctx)
        now = ctx.services.clock.now()
        profile = ctx.services.profile
        view = CardView(
            card_id=card.id,
            channel=ctx.incoming.channel,
            chat_id=ctx.incoming.chat_id,
            locale=ctx.locale,
            opened_at=now,
            closes_at=now + dt.timedelta(minutes=profile.card.open_minutes),
            next_refresh_at=next_step_start(now, profile.card.refresh_seconds),
        )
        ctx.session.add(view)
        await ctx.session.flush()
        ctx.data["view"] = view.id
        ctx.audit("show", "shown", card=card.id)

    async def _image(self, ctx: Context, *, edit: bool) -> Reply:
        card = await self._card(ctx)
        view_id = ctx.data.get("view")
        if card is None or card.status != CardStatus.ACTIVE or not isinstance(view_id, int):
            return Text(ctx._("The alumni card is not available."))
        names = await people.names(ctx.session, card.person_id)
        assert names is not None
        buttons = ctx.choices(
            "", [("refresh", ctx._("Refresh now")), ("close", ctx._("Close the card"))]
        ).choices
        image: Image = card_image(
            ctx.services,
            card,
            names,
            locale=ctx.locale,
            now=ctx.services.clock.now(),
            key=view_key(view_id),
            choices=buttons,
        )
        return Edit(image.key or "", image) if edit else image

    async def _apply(self, ctx: Context) -> Reply:
        if ctx.identity.person_id is None:
            return _at_the_alumni_centre(ctx)
        card_id = await card_applications.apply(
            ctx.session,
            ctx.identity.person_id,
            card_type=CARD_TYPE,
            now=ctx.services.clock.now(),
        )
        ctx.audit("apply", "pending", card=card_id)
        return Text(
            ctx._(
                "Your application for an electronic alumni card was received (number "
                "{card}). Staff will review it; you will be told here and by mail.",
                card=card_id,
            )
        )


def _at_the_alumni_centre(ctx: Context) -> Text:
    """A chat linked to a directory entry: the alumni centre issues the card."""
    ctx.audit("show", "at_alumni_centre")
    return Text(
        sentences(
            ctx,
            ctx._(
                "For an account in the university's directory, the electronic alumni card "
                "is applied for at the alumni centre, not in this chat."
            ),
            contact_text(ctx, "alumni_centre"),
        )
    )


def _with_fee(ctx: Context, question: str) -> str:
    """The apply question with what the card costs, where the profile states it."""
    fee = ctx.services.profile.card.fee
    if fee is None:
        return question
    if fee == 0:
        return question + "\n" + ctx._("The electronic alumni card is free of charge.")
    return question + "\n" + ctx._("The electronic alumni card costs NT${fee}.", fee=fee)
