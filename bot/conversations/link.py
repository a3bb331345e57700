"""Linking a chat to a directory person, and unlinking (DESIGN.md, "Identity in chat").

The user names their account; a 6-digit code goes to the address on file through the
mail queue; typing it back proves control of that address. The reply and the code
step behave the same whether or not the account exists: for an unknown account a
code is still created (and never sent), so wrong answers count down identically.

The account is found through the directory port, so linking works on every backend;
the chat keeps the account's owner (``core.directory.chats``).
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum

from sqlalchemy import select

from bot.conversations.common import (
    CHOOSE,
    LIMITER,
    change_now_option,
    close_open_cards,
    forced_changes,
    may_mail,
    send_change_link,
    sent_to,
    too_many_requests,
)
from bot.flow import Answer, Context, Flow, Step, register
from bot.types import Reply, Text
from core.accounts import (
    normalise_enrolment_code,
    normalise_name,
    redeem_enrolment_code,
    shown_address,
)
from core.codes import CodeCheck, check_code, issue_code
from core.directory import chats
from core.i18n import N_, Translator
from core.mail import enqueue
from core.models import OneTimeToken
from core.ratelimit import MAIL_SPACING
from core.text import normalise
from core.tokens import Purpose


class State(StrEnum):
    ACCOUNT = "account"  # the account name; a code goes to its address on file
    CODE = "code"  # the 6-digit code from the mail
    CHANGE_NOW = "change_now"  # linked; the school requires a password change: now?


class Unlinking(StrEnum):
    """Unlinking asks nothing: it ends in the step that starts it."""


def _subject(ctx: Context) -> str:
    return f"chat:{ctx.incoming.channel}:{ctx.incoming.user_id}"


def _link(ctx: Context, owner: str, now: dt.datetime) -> str | None:
    """Link the chat to ``owner`` (``DirectoryAccount.owner``); the owner it had before."""
    previous = chats.owner_of(ctx.identity)
    own_tables = ctx.services.directories.remote is None
    chats.link(ctx.identity, owner, own_tables=own_tables, now=now)
    return previous


def _code_owner(data: dict[str, object]) -> str | None:
    """The owner a link code was issued for; None for a name that found nobody."""
    owner = data.get("owner")
    if isinstance(owner, str):
        return owner
    person_id = data.get("person_id")  # a code issued before owners were kept
    return str(person_id) if isinstance(person_id, int) else None


@register
class Link(Flow):
    """Link this chat to my account with a code sent to the address on file."""

    name = "link"
    title = N_("Link this chat to my account")
    order = 40
    states = State

    async def start(self, ctx: Context) -> Step:
        linked = await self._link_by_platform(ctx)
        return linked if linked is not None else Step.goto(State.ACCOUNT)

    async def _link_by_platform(self, ctx: Context) -> Step | None:
        """A workspace the profile trusts vouches for the user's confirmed e-mail."""
        incoming = ctx.incoming
        trusted = ctx.services.profile.chat.slack_trusted_teams
        if not (incoming.verified_email and incoming.workspace in trusted):
            return None
        directory = ctx.services.directories(ctx.session)
        owner = await directory.owner_by_address(incoming.verified_email)
        if owner is None:
            return None
        previous = _link(ctx, owner, ctx.services.clock.now())
        ctx.audit("link", "linked_by_workspace")
        return await self._linked(ctx, previous)

    async def _linked(self, ctx: Context, previous: str | None) -> Step:
        """Linked: say so, and say at once if the school requires a password change."""
        changed = previous != chats.owner_of(ctx.identity)
        closed = await close_open_cards(ctx) if changed else []
        done = Text(ctx._("Done: this chat is now linked to your account."))
        then = ctx.data.get("then")
        forced = await forced_changes(ctx)
        if not forced or then is not None:
            # The next flow (mailbox status) shows a required change itself.
            return Step.done(*closed, done, *(Text(reason) for _, reason in forced), then=then)
        return Step.goto(State.CHANGE_NOW, *closed, done, *(Text(reason) for _, reason in forced))

    async def prompt(self, ctx: Context, state: str) -> list[Reply]:
        if State(state) is State.CHANGE_NOW:
            options = [change_now_option(ctx, account) for account, _ in await forced_changes(ctx)]
            options.append(("later", ctx._("Later")))
            return [ctx.choices(ctx._("Change the password now?"), options)]
        if State(state) is State.ACCOUNT:
            return [
                Text(
                    ctx._(
                        "Which account is yours? Type your student ID, alumni account or "
                        "mailbox address; I will send a 6-digit code to the address on file."
                    )
                )
            ]
        return [Text(ctx._("Please type the 6-digit code from the mail (or your enrolment code)."))]

    async def handle(self, ctx: Context, state: str, answer: Answer) -> Step:
        if State(state) is State.CHANGE_NOW:
            action, _, raw_id = (answer.choice or "").partition(":")
            if action == "later":
                return Step.done()
            sent = await send_change_link(ctx, raw_id) if action == "change" else None
            if sent is None:
                return Step.goto(State.CHANGE_NOW, Text(ctx._(CHOOSE)))
            return Step.done(sent)
        if State(state) is State.ACCOUNT:
            return await self._send_code(ctx, normalise_name(answer.text or ""))
        return await self._check(ctx, answer.text or "")

    async def _send_code(self, ctx: Context, name: str) -> Step:
        if not name:
            return Step.goto(State.ACCOUNT, Text(ctx._("Please type the account name.")))
        services = ctx.services
        now = services.clock.now()
        refused = await too_many_requests(ctx, now)
        if refused is not None:
            return Step.done(refused)
        lifetimes = services.profile.lifetimes
        directory = services.directories(ctx.session)
        target = await directory.find_target(name, id_number_hash=None)
        deliverable = target is not None and target.send_to is not None
        # Naming an account proves nothing: its address gets at most one code a minute and
        # five an hour, whoever asks; the reply is the same either way. A miss counts under
        # the asker's own key, so it takes as long.
        address = target.send_to if target is not None and target.send_to else None
        mail_now = await may_mail(ctx, address or f"unproven:{ctx.actor}", proven=False, now=now)
        name_key = services.pii.subject("account", name)
        if await self._asked_just_now(ctx, name_key, now):
            # The same chat asked for the same account within the minute the address's
            # mail is spaced by: the code it already has (mailed then) stays the one.
            mail_now = False
            code = None
        else:
            code = await issue_code(
                ctx.session,
                services.settings.pii_key,
                subject=_subject(ctx),
                lifetime=dt.timedelta(minutes=lifetimes.link_code_minutes),
                now=now,
                data={
                    "owner": target.owner if deliverable and target else None,
                    "name": name_key,
                },
            )
        if target is not None and target.send_to is not None and mail_now and code:
            t = Translator(ctx.locale)
            enqueue(
                ctx.session,
                to=target.send_to,
                subject=t._(
                    "Your code for the {institution} helpdesk",
                    institution=services.profile.display_name.get(ctx.locale),
                ),
                body=t._(
                    "Your code is {code}. Type it in the chat within {minutes} minutes to "
                    "link the chat to {account}. If you did not ask for it, ignore this mail.",
                    code=code,
                    minutes=lifetimes.link_code_minutes,
                    account=target.name,
                ),
                now=now,
            )
        ctx.audit("code_request", ("sent" if mail_now else "held") if deliverable else "no_match")
        where = sent_to(ctx, shown_address(services.profile, name))
        return Step.goto(
            State.CODE,
            Text(
                ctx._(
                    "If the account exists and has an address on file, a 6-digit code was "
                    "sent {where}. It works for {minutes} minutes. New staff with no address "
                    "on file: type the enrolment code the helpdesk gave you instead.",
                    where=where,
                    minutes=lifetimes.link_code_minutes,
                )
            ),
        )

    async def _asked_just_now(self, ctx: Context, name_key: str, now: dt.datetime) -> bool:
        """Whether this chat's live code is for ``name_key`` and younger than the spacing.

        It depends only on what this chat itself asked, never on the account, so an
        account that exists and one that does not are treated alike.
        """
        newest = await ctx.session.scalar(
            select(OneTimeToken)
            .where(
                OneTimeToken.subject == _subject(ctx),
                OneTimeToken.purpose == Purpose.LINK_CODE,
                OneTimeToken.used_at.is_(None),
                OneTimeToken.expires_at > now,
            )
            .order_by(OneTimeToken.id.desc())
            .limit(1)
        )
        if newest is None or newest.data.get("name") != name_key:
            return False
        created = newest.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.UTC)
        return now - created < MAIL_SPACING

    async def _check(self, ctx: Context, text: str) -> Step:
        digits = re.sub(r"\D", "", normalise(text))
        # Six digits and nothing else is the mailed code. Otherwise an enrolment code comes
        # before digits picked out of the text: one with six digits among its ten
        # characters (K7Q2-9X4D-31) would be read as a wrong mailed code and never work.
        mailed = re.fullmatch(r"[\s\-‐‑–—]*(\d[\s\-‐‑–—]*){6}", normalise(text)) is not None
        enrolment = None if mailed else normalise_enrolment_code(text)
        if enrolment is not None:
            return await self._enrol(ctx, enrolment)
        if len(digits) != 6:
            return Step.goto(State.CODE, Text(ctx._("The code has 6 digits.")))
        services = ctx.services
        now = services.clock.now()
        result, row = await check_code(
            ctx.session,
            services.settings.pii_key,
            subject=_subject(ctx),
            code=digits,
            max_attempts=services.profile.lifetimes.link_code_attempts,
            now=now,
        )
        owner = _code_owner(row.data) if row is not None else None
        if result is CodeCheck.OK and owner is not None:
            previous = _link(ctx, owner, now)
            ctx.audit("link", "linked")
            return await self._linked(ctx, previous)
        if result is CodeCheck.WRONG:
            ctx.audit("link", "wrong_code")
            return Step.goto(State.CODE, Text(ctx._("That code is not right.")))
        ctx.audit("link", "ended")
        return Step.done(
            Text(
                ctx._(
                    "That code no longer works (too many wrong answers, or more than "
                    "{minutes} minutes). Please start again.",
                    minutes=services.profile.lifetimes.link_code_minutes,
                )
            )
        )

    async def _enrol(self, ctx: Context, code: str) -> Step:
        """A new member of staff with no address on file proves who she is with the
        enrolment code staff gave her in person (core.accounts.issue_enrolment_code)."""
        services = ctx.services
        now = services.clock.now()
        limits = services.profile.limits
        subject = f"enrol:{ctx.actor}"
        locked = await LIMITER.locked_until(ctx.session, subject, now=now)
        person_id = None
        if locked is None:
            person_id = await redeem_enrolment_code(
                ctx.session, services.settings.pii_key, code, now=now
            )
        if person_id is not None:
            previous = chats.owner_of(ctx.identity)
            chats.link_person(ctx.identity, person_id, now=now)
            ctx.audit("link", "linked_by_enrolment_code")
            return await self._linked(ctx, previous)
        if locked is None:
            locked = await LIMITER.record_failure(
                ctx.session,
                subject,
                limit=limits.failures_per_user,
                lockout=dt.timedelta(minutes=limits.lockout_minutes),
                now=now,
            )
        ctx.audit("link", "wrong_enrolment_code")
        if locked is not None:
            local = locked.astimezone(services.profile.zone).strftime("%Y-%m-%d %H:%M")
            return Step.done(
                Text(
                    ctx._(
                        "Too many wrong enrolment codes. Please try again after {time} "
                        "(Taiwan time).",
                        time=local,
                    )
                )
            )
        return Step.goto(
            State.CODE,
            Text(
                ctx._(
                    "That enrolment code does not work: it may be mistyped, used or expired. "
                    "Ask for a new one if needed."
                )
            ),
        )


@register
class Unlink(Flow):
    """``/unlink``: this chat no longer speaks for the person."""

    name = "unlink"
    title = N_("Unlink this chat")
    in_menu = False
    states = Unlinking

    async def start(self, ctx: Context) -> Step:
        if not ctx.identity.linked:
            return Step.done(Text(ctx._("This chat is not linked to an account.")))
        chats.unlink(ctx.identity)
        ctx.audit("unlink", "unlinked")
        closed = await close_open_cards(ctx)
        return Step.done(*closed, Text(ctx._("This chat is no longer linked to your account.")))

    async def prompt(self, ctx: Context, state: str) -> list[Reply]:
        return []

    async def handle(self, ctx: Context, state: str, answer: Answer) -> Step:
        return Step.done()
