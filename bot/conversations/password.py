"""Forgot password and change password by one-time link (seeds 000, 001, 002, 003).

The user names the account; for a forgotten password they also give their national
ID (seed 001: 輸入個人身分證、電子郵件). If it matches, a link to our password page goes
to the address on file. The reply reads the same, and takes the same path, whether
or not anything matched (OWASP Forgot Password cheat sheet): the mail is only queued
here and sent by the worker. Passwords are never typed into the chat.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from enum import StrEnum

from bot.conversations.student_id import explain_id_problem
from bot.flow import Answer, Context, Flow, Step, register
from bot.types import Reply, Text
from core import audit, tokens
from core.accounts import Target, find_target, normalise_name, shown_address
from core.i18n import N_, Translator
from core.idnumbers import InvalidIdNumber, parse_id_number
from core.mail import enqueue, mask_address
from core.ratelimit import RateLimiter


class State(StrEnum):
    ACCOUNT = "account"  # 帳號：學號、校友帳號或信箱
    ID_NUMBER = "id_number"  # 身分證字號


class PasswordLinkFlow(Flow):
    """Shared steps: name the account, (prove who you are,) get a link by mail."""

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
        today = ctx.services.clock.now().astimezone(ctx.services.profile.zone).date()
        try:
            number = parse_id_number(answer.text or "", today=today)
        except InvalidIdNumber as exc:
            return Step.goto(State.ID_NUMBER, Text(ctx._(explain_id_problem(exc))))
        return Step.done(
            *await self._send(ctx, id_number_hash=ctx.services.pii.id_number(number.value))
        )

    async def _send(self, ctx: Context, *, id_number_hash: str | None) -> list[Reply]:
        services = ctx.services
        now = services.clock.now()
        name: str = ctx.data["name"]
        refused = await too_many_requests(ctx, self.name, name, now)
        if refused is not None:
            return [refused]
        target = await find_target(
            ctx.session, services.profile, name=name, id_number_hash=id_number_hash
        )
        if target is not None and target.send_to:
            await send_password_link(ctx, target, self.purpose, now)
            outcome = "sent"
        else:
            # A miss does the work of a hit but mails nothing, so it takes as long (as the
            # link flow does with codes): a token no one holds, for no account.
            await tokens.issue(
                ctx.session,
                purpose=self.purpose,
                subject="none",
                lifetime=dt.timedelta(minutes=services.profile.lifetimes.reset_link_minutes),
                now=now,
            )
            outcome = "no_match"
        audit.record(
            ctx.session,
            at=now,
            channel=ctx.incoming.channel,
            actor=ctx.actor,
            flow=self.name,
            action="link_request",
            outcome=outcome,
        )
        return [self._uniform_reply(ctx, name)]

    def _uniform_reply(self, ctx: Context, name: str) -> Text:
        minutes = ctx.services.profile.lifetimes.reset_link_minutes
        shown = shown_address(ctx.services.profile, name)
        if shown is not None:
            where = ctx._(
                "to {address} (or, if that mailbox cannot receive mail, to your "
                "notification address on file)",
                address=mask_address(shown),
            )
        else:
            where = ctx._("to the address on file for this account")
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


LIMITER = RateLimiter()


async def send_password_link(
    ctx: Context, target: Target, purpose: tokens.Purpose, now: dt.datetime
) -> None:
    """Issue a one-time link for ``target`` and queue the mail that carries it."""
    assert target.send_to is not None
    token = await tokens.issue(
        ctx.session,
        purpose=purpose,
        subject=target.subject,
        lifetime=dt.timedelta(minutes=ctx.services.profile.lifetimes.reset_link_minutes),
        now=now,
        data={
            "locale": ctx.locale,
            "channel": ctx.incoming.channel,
            "chat_id": ctx.incoming.chat_id,
        },
    )
    address, account = target.send_to, target.name
    services = ctx.services
    t = Translator(ctx.locale)
    url = f"{services.settings.public_url.rstrip('/')}/password/{token}"
    minutes = services.profile.lifetimes.reset_link_minutes
    institution = services.profile.display_name.get(ctx.locale)
    enqueue(
        ctx.session,
        to=address,
        subject=t._(
            "{institution}: set the password of {account}",
            institution=institution,
            account=account,
        ),
        body=t._(
            "Someone, hopefully you, asked the {institution} helpdesk for a link to "
            "set the password of {account}.\n\n{url}\n\nThe link works once, for "
            "{minutes} minutes. If this was not you, ignore this mail: nothing changes.",
            institution=institution,
            account=account,
            url=url,
            minutes=minutes,
        ),
        now=now,
    )


async def too_many_requests(ctx: Context, flow: str, name: str, now: dt.datetime) -> Text | None:
    """Limits on mailed links and codes: per chat user, per account name, overall."""
    limits = ctx.services.profile.limits
    window = dt.timedelta(minutes=limits.lockout_minutes)
    per_user = await LIMITER.hit(ctx.session, f"link:user:{ctx.actor}", window=window, now=now)
    name_key = hashlib.sha256(name.lower().encode()).hexdigest()[:32]
    per_name = await LIMITER.hit(
        ctx.session, f"link:name:{name_key}", window=dt.timedelta(days=1), now=now
    )
    overall = await LIMITER.hit_spread(
        ctx.session,
        "link:global",
        window=dt.timedelta(minutes=1),
        now=now,
        limit=limits.lookups_global_per_minute,
    )
    if per_user.count > limits.failures_per_user:
        until = per_user.resets_at
    elif per_name.count > limits.lookups_per_id_per_day:
        until = per_name.resets_at
    elif overall.count > limits.lookups_global_per_minute:
        until = overall.resets_at
    else:
        return None
    audit.record(
        ctx.session,
        at=now,
        channel=ctx.incoming.channel,
        actor=ctx.actor,
        flow=flow,
        action="link_request",
        outcome="rate_limited",
    )
    local = until.astimezone(ctx.services.profile.zone).strftime("%Y-%m-%d %H:%M")
    return Text(
        ctx._(
            "Too many requests for a link. Please try again after {time} (Taiwan time).",
            time=local,
        )
    )
