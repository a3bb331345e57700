"""Mailbox status for a linked person (seeds 002 and 004), with what to do next.

Each of the person's mailboxes: the address, its condition (normal; suspended with the
reason, date and notice; pending, "takes effect within 10 minutes"; disabled), the
quota as people read it ("0 KB of 60 GB"), the password's age against the profile's
maximum, and actions: reset that mailbox's password, read the suspension notice.

A chat linked to an entry of an LDAP or AD directory (no ``people`` row) reads the
entry's mailbox through the port (``Directory.mailboxes_of``): its address, whether it
is suspended or locked, the password's age, and the required changes; the directory
keeps no quota or suspension reason the bot could show.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from bot.conversations.common import (
    CHOOSE,
    change_now_option,
    forced_changes,
    no_address,
    send_change_link,
    send_password_link,
    too_many_proven,
    too_many_requests,
)
from bot.desk import offer_person
from bot.flow import Answer, Context, Flow, Step, register
from bot.text import in_language
from bot.types import Reply, Text
from core import tokens
from core.accounts import Target
from core.directory import AccountLocked, Directory, DirectoryAccount, DirectoryUnavailable
from core.i18n import N_
from core.mail import mask_address
from core.mailboxes import MailboxView, human_kb, of_person
from core.models import MailboxCondition

EXPIRY_WARNING_DAYS = 14


class State(StrEnum):
    ACTION = "action"  # the status is shown; reset a password, read a notice, or done


@register
class MailboxStatus(Flow):
    """Why did my mail stop? The state of each of my mailboxes."""

    name = "mailbox"
    title = N_("My mailbox status")
    order = 35
    states = State
    needs_link = True

    async def start(self, ctx: Context) -> Step:
        if ctx.identity.directory_owner is not None:
            return await self._start_in_directory(ctx, ctx.identity.directory_owner)
        boxes = await self._mailboxes(ctx)
        forced = [Text(reason) for _, reason in await forced_changes(ctx)]
        if not boxes:
            if forced:
                return Step.goto(State.ACTION, *forced)
            return Step.done(Text(ctx._("There is no mailbox in your name.")))
        described = [Text(await self._describe(ctx, box)) for box in boxes]
        return Step.goto(State.ACTION, *described, *forced)

    async def prompt(self, ctx: Context, state: str) -> list[Reply]:
        if ctx.identity.directory_owner is not None:
            return [await self._directory_actions(ctx, ctx.identity.directory_owner)]
        options: list[tuple[str, str]] = []
        for box in await self._mailboxes(ctx):
            if box.condition == MailboxCondition.SUSPENDED:
                options.append(
                    (
                        f"notice:{box.id}",
                        ctx._("Read the notice for {address}", address=box.address),
                    )
                )
            if box.condition != MailboxCondition.DISABLED:
                options.append(
                    (
                        f"reset:{box.id}",
                        ctx._("Reset the password of {address}", address=box.address),
                    )
                )
        options.extend(change_now_option(ctx, account) for account, _ in await forced_changes(ctx))
        if any(box.condition == MailboxCondition.SUSPENDED for box in await self._mailboxes(ctx)):
            # A suspension is the administrators' decision: a person can explain or lift it.
            options.append(offer_person(ctx))
        options.append(("done", ctx._("Done")))
        return [ctx.choices(ctx._("What would you like to do?"), options)]

    async def handle(self, ctx: Context, state: str, answer: Answer) -> Step:
        action, _, raw_id = (answer.choice or "").partition(":")
        if action == "done":
            return Step.done()
        if ctx.identity.directory_owner is not None:
            return await self._directory_action(ctx, ctx.identity.directory_owner, action, raw_id)
        if action == "change":
            sent = await send_change_link(ctx, raw_id)
            if sent is not None:
                return Step.done(sent)
        # Choices are bound to this step by the engine; ownership is checked again here so
        # that no input of one person ever reaches another person's mailbox.
        box = next((b for b in await self._mailboxes(ctx) if str(b.id) == raw_id), None)
        if box is None:
            return Step.goto(State.ACTION, Text(ctx._(CHOOSE)))
        if action == "notice":
            notice = box.suspension_notice or box.suspended_reason or ""
            return Step.goto(State.ACTION, Text(in_language(notice, ctx.locale)))
        return Step.done(await self._reset(ctx, box))

    async def _mailboxes(self, ctx: Context) -> list[MailboxView]:
        person_id = ctx.identity.person_id
        if person_id is None:
            return []
        return await of_person(
            ctx.session,
            person_id,
            takes_effect_minutes=ctx.services.profile.mail.takes_effect_minutes,
            now=ctx.services.clock.now(),
        )

    async def _reset(self, ctx: Context, box: MailboxView) -> Text:
        target = Target(
            kind="mailbox",
            id=box.id,
            name=box.address,
            person_id=box.person_id,
            send_to=box.notification_address,
            suspended=box.condition == MailboxCondition.SUSPENDED,
            notice=box.suspension_notice,
        )
        return await self._send_reset(ctx, target)

    async def _send_reset(self, ctx: Context, target: Target | DirectoryAccount) -> Text:
        """Mail a link to set the mailbox's password to its notification address."""
        now = ctx.services.clock.now()
        if target.send_to is None:
            return no_address(ctx, target.name)
        # A linked chat has proved control of the address on file: the owner is asking.
        refused = await too_many_requests(ctx, now) or await too_many_proven(ctx, target.name, now)
        if refused is not None:
            return refused
        await send_password_link(ctx, target, tokens.Purpose.RESET, now, proven=True)
        return Text(
            ctx._(
                "A link to set the password of {address} was sent to {notify}. It works "
                "once, for {minutes} minutes.",
                address=target.name,
                notify=mask_address(target.send_to),
                minutes=ctx.services.profile.lifetimes.reset_link_minutes,
            )
        )

    async def _describe(self, ctx: Context, box: MailboxView) -> str:
        profile = ctx.services.profile
        zone = profile.zone

        def local(when: dt.datetime) -> str:
            return when.astimezone(zone).strftime("%Y-%m-%d %H:%M")

        lines = [box.address]
        match box.condition:
            case MailboxCondition.SUSPENDED:
                lines.append(
                    ctx._(
                        "Suspended by the administrators on {date}. Reason: {reason}",
                        date=local(box.suspended_at) if box.suspended_at else "-",
                        reason=in_language(box.suspended_reason or "-", ctx.locale),
                    )
                )
            case MailboxCondition.PENDING:
                lines.append(
                    ctx._(
                        "Being created (requested {date}); it takes effect within "
                        "{minutes} minutes.",
                        date=local(box.created_at),
                        minutes=profile.mail.takes_effect_minutes,
                    )
                )
            case MailboxCondition.DISABLED:
                lines.append(ctx._("Disabled."))
            case _:
                lines.append(ctx._("Working normally."))
        percent = 100 * box.quota_used_kb // box.quota_limit_kb if box.quota_limit_kb else 0
        lines.append(
            ctx._(
                "Storage: {used} of {limit} used ({percent}%).",
                used=human_kb(box.quota_used_kb),
                limit=human_kb(box.quota_limit_kb),
                percent=percent,
            )
        )
        if percent >= 90:
            lines.append(ctx._("The mailbox is nearly full: new mail may be refused."))
        lines.extend(await self._password_age(ctx, box))
        return "\n".join(lines)

    async def _password_age(self, ctx: Context, box: MailboxView) -> list[str]:
        """When the password was set and when it expires, as the directory says."""
        directory = ctx.services.directories(ctx.session)
        account = await directory.find_target(box.address, id_number_hash=None)
        if account is None:
            return []
        return await self._age(ctx, directory, account)

    async def _age(
        self, ctx: Context, directory: Directory, account: DirectoryAccount
    ) -> list[str]:
        state = await directory.password_state(account)
        if state.changed_at is None:
            return []
        now = ctx.services.clock.now()
        days = (now - state.changed_at).days
        changed = state.changed_at.astimezone(ctx.services.profile.zone).date()
        if changed == now.astimezone(ctx.services.profile.zone).date():
            lines = [ctx._("Password last changed today ({date}).", date=changed.isoformat())]
        else:
            lines = [
                ctx.ngettext(
                    "Password last changed on {date} ({n} day ago).",
                    "Password last changed on {date} ({n} days ago).",
                    max(days, 1),
                    date=changed.isoformat(),
                )
            ]
        max_age = ctx.services.profile.password_policy.max_age_days
        left: int | None = None if max_age is None else max_age - days
        if state.expires_at is not None:
            directory_left = (state.expires_at - now).days
            left = directory_left if left is None else min(left, directory_left)
        expired = state.expires_at is not None and now >= state.expires_at
        if expired or (left is not None and left <= 0):
            lines.append(ctx._("The password has expired: please set a new one."))
        elif left is not None and left <= EXPIRY_WARNING_DAYS:
            lines.append(
                ctx.ngettext(
                    "The password expires in {n} day: please set a new one soon.",
                    "The password expires in {n} days: please set a new one soon.",
                    max(left, 1),
                )
            )
        return lines

    # -- a chat linked to an entry of an LDAP or AD directory -------------------------------

    async def _start_in_directory(self, ctx: Context, owner: str) -> Step:
        directory = ctx.services.directories(ctx.session)
        try:
            boxes = await directory.mailboxes_of(owner)
            described = [Text(await self._describe_entry(ctx, directory, box)) for box in boxes]
            forced = [Text(reason) for _, reason in await forced_changes(ctx)]
        except DirectoryUnavailable as exc:
            ctx.audit("status", "unavailable")
            return Step.done(Text(ctx._(exc.msgid)))
        if not boxes and not forced:
            return Step.done(Text(ctx._("There is no mailbox in your name.")))
        return Step.goto(State.ACTION, *described, *forced)

    async def _describe_entry(
        self, ctx: Context, directory: Directory, box: DirectoryAccount
    ) -> str:
        """The mailbox as the directory shows it: address, condition, password age."""
        lines = [box.name]
        if box.locked:
            # The directory's lockout (ppolicy's pwdAccountLockedTime), as a reset page says it.
            lines.append(ctx._(AccountLocked().msgid))
        elif box.suspended:
            lines.append(ctx._("Suspended by the administrators."))
        else:
            lines.append(ctx._("Working normally."))
        lines.extend(await self._age(ctx, directory, box))
        return "\n".join(lines)

    async def _directory_actions(self, ctx: Context, owner: str) -> Reply:
        directory = ctx.services.directories(ctx.session)
        try:
            boxes = await directory.mailboxes_of(owner)
            forced = await forced_changes(ctx)
        except DirectoryUnavailable as exc:
            return Text(ctx._(exc.msgid))
        options: list[tuple[str, str]] = []
        for box in boxes:
            if box.suspended and box.notice:
                options.append(
                    (f"notice:{box.name}", ctx._("Read the notice for {address}", address=box.name))
                )
            if not box.locked:  # the page refuses a locked account: the directory decides
                options.append(
                    (
                        f"reset:{box.name}",
                        ctx._("Reset the password of {address}", address=box.name),
                    )
                )
        options.extend(change_now_option(ctx, account) for account, _ in forced)
        if any(box.suspended or box.locked for box in boxes):
            options.append(offer_person(ctx))
        options.append(("done", ctx._("Done")))
        return ctx.choices(ctx._("What would you like to do?"), options)

    async def _directory_action(self, ctx: Context, owner: str, action: str, name: str) -> Step:
        directory = ctx.services.directories(ctx.session)
        try:
            if action == "change":
                sent = await send_change_link(ctx, name)
                if sent is not None:
                    return Step.done(sent)
            # Ownership is checked again: only the linked entry's own mailbox is reached.
            box = next((b for b in await directory.mailboxes_of(owner) if b.name == name), None)
            if box is None or (action == "reset" and box.locked):
                return Step.goto(State.ACTION, Text(ctx._(CHOOSE)))
            if action == "notice":
                return Step.goto(State.ACTION, Text(in_language(box.notice or "", ctx.locale)))
            return Step.done(await self._send_reset(ctx, box))
        except DirectoryUnavailable as exc:
            ctx.audit("status", "unavailable")
            return Step.done(Text(ctx._(exc.msgid)))
