"""Forgot password and change password by one-time link (seeds 000, 001, 002, 003).

The user names the account; for a forgotten password they also give their national
ID (seed 001: 輸入個人身分證、電子郵件). If it matches, a link to our password page goes
to the address on file. The reply reads the same, and takes the same path, whether
or not anything matched (OWASP Forgot Password cheat sheet): the mail is only queued
here and sent by the worker. Passwords are never typed into the chat.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from bot.conversations.common import (
    explain_id_problem,
    may_mail,
    send_password_link,
    sent_to,
    today,
    too_many_proven,
    too_many_requests,
    unproven_decoy,
)
from bot.flow import Answer, Context, Flow, Step, register
from bot.types import Reply, Text
from core import tokens
from core.accounts import normalise_name, shown_address
from core.directory import DirectoryUnavailable
from core.i18n import N_
from core.idnumbers import InvalidIdNumber, parse_id_number


class State(StrEnum):
    ACCOUNT = "account"  # 帳號：學號、校友帳號或信箱
    ID_NUMBER = "id_number"  # 身分證字號


class PasswordLinkFlow(Flow):
    """Shared steps: name the account, (prove who you are,) get a link by mail."""

    states = State
    purpose: tokens.Purpose
    asks_id_number: bool

    async def start(self, ctx: Context) -> Step:
        return Step.goto(State.ACCOUNT)

    async def prompt(self, ctx: Context, state: str) -> list[Reply]:
        if State(state) is State.ACCOUNT:
            return [
                Text(
                    ctx._(
                        "Which account? Type your student ID, your alumni account or your "
                        "mailbox address."
                    )
                )
            ]
        return [
            Text(
                ctx._(
                    "To confirm it is you, please type the national ID number (身分證字號) "
                    "or resident certificate number (居留證號) on file for this account."
                )
            )
        ]

    async def handle(self, ctx: Context, state: str, answer: Answer) -> Step:
        if State(state) is State.ACCOUNT:
            name = normalise_name(answer.text or "")
            if not name:
                return Step.goto(State.ACCOUNT, Text(ctx._("Please type the account name.")))
            ctx.data["name"] = name
            if self.asks_id_number:
                return Step.goto(State.ID_NUMBER)
            return Step.done(*await self._send(ctx, id_number_hash=None))
        try:
            number = parse_id_number(answer.text or "", today=today(ctx))
        except InvalidIdNumber as exc:
            return Step.goto(State.ID_NUMBER, Text(ctx._(explain_id_problem(exc))))
        return Step.done(
            *await self._send(ctx, id_number_hash=ctx.services.pii.id_number(number.value))
        )

    async def _send(self, ctx: Context, *, id_number_hash: str | None) -> list[Reply]:
        services = ctx.services
        now = services.clock.now()
        name: str = ctx.data["name"]
        refused = await too_many_requests(ctx, now)
        if refused is not None:
            return [refused]
        try:
            target = await services.directories(ctx.session).find_target(
                name, id_number_hash=id_number_hash
            )
        except DirectoryUnavailable as exc:
            ctx.audit("link_request", "unavailable")
            return [Text(ctx._(exc.msgid))]
        proven = id_number_hash is not None and target is not None
        sent = False
        if proven and target is not None and target.send_to:
            # Over the owner's daily cap the mail is held back but the reply is the same:
            # a different one would tell that the ID number matched.
            over = await too_many_proven(ctx, target.name, now)
            if over is None:
                sent = await send_password_link(ctx, target, self.purpose, now, proven=True)
        elif not proven and target is not None and target.send_to:
            sent = await send_password_link(ctx, target, self.purpose, now, proven=False)
        else:
            # A miss does the work of a hit but mails nothing, so it takes as long (as the
            # link flow does with codes): the counting, and a token no one holds.
            if id_number_hash is not None:
                await unproven_decoy(ctx, now)
            else:
                await may_mail(ctx, f"unproven:{ctx.actor}", proven=False, now=now)
            await tokens.issue(
                ctx.session,
                purpose=self.purpose,
                subject="none",
                lifetime=dt.timedelta(minutes=services.profile.lifetimes.reset_link_minutes),
                now=now,
            )
        ctx.audit("link_request", "sent" if sent else "no_match" if target is None else "held")
        return [self._uniform_reply(ctx, name)]

    def _uniform_reply(self, ctx: Context, name: str) -> Text:
        minutes = ctx.services.profile.lifetimes.reset_link_minutes
        where = sent_to(ctx, shown_address(ctx.services.profile, name))
        return Text(
            ctx._(
                "If the details match, a link was sent {where}. It works once, for "
                "{minutes} minutes. Open it to set your password on our page: never send a "
                "password in this chat.",
                where=where,
                minutes=minutes,
            )
        )


@register
class ForgotPassword(PasswordLinkFlow):
    """Seed 001, 忘記密碼: a one-time link to the address on file after the ID check."""

    name = "forgot_password"
    title = N_("I forgot my password")
    order = 20
    purpose = tokens.Purpose.RESET
    asks_id_number = True


@register
class ChangePassword(PasswordLinkFlow):
    """Seeds 000 and 001, 變更密碼: a link to the page that asks the current password."""

    name = "change_password"
    title = N_("Change my password")
    order = 30
    purpose = tokens.Purpose.CHANGE
    asks_id_number = False
