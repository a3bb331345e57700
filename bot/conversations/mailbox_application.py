"""Applying for a new mailbox in chat (seed 004, NTHU 申請電子郵件帳號).

Seed 004's steps: read the Network Usage Policy and accept; read the Terms of Use for
Email Accounts and accept; choose a name generated from the passport English name and
set the password; "Created new LDAP account ... Quota (0KB/62914560KB) ... will take
effect in 10 minutes"; then "Designate email address for account notification".
Declining either text ends the flow without creating anything. Only a person whose
status allows it may apply (staff; students enrolled or returning).

The new mailbox's notifications (its password links) go to the address on file unless
the applicant designates another, which counts only once a code mailed to it is typed
back: a mistyped address never receives the mailbox's links.

Where the chat is linked to an entry of an LDAP or AD directory, the profile's
``[directory.new_mailbox]`` says who may apply and what a mailbox is, and
``[directory] applications`` what happens to the chosen name: ``"write"`` writes the
mailbox and mails its set-password link as above (a mailbox added to the owner's own
entry shares that account's password: no link), ``"queue"`` passes the application to
the help desk as a case, whose answer comes to the chat. Without the template the flow
names the mailbox the entry already has, or sends the user to the help desk.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum

from bot.conversations.common import (
    CHOOSE,
    may_mail,
    send_password_link,
    too_many_cases,
)
from bot.desk import contact_text, sentences
from bot.flow import Answer, Context, Flow, Step, register
from bot.types import Reply, Text
from core import cases, mailbox_applications, tokens
from core.accounts import Target
from core.application_answers import Refused, read_email
from core.codes import CodeCheck, check_code, issue_code
from core.directory import DirectoryAccount, DirectoryUnavailable
from core.directory.ldap import LdapDirectory
from core.i18n import N_, Translator
from core.localized import LocalizedText
from core.mail import enqueue, mask_address
from core.mailboxes import human_kb
from core.text import normalise, text_parts


class State(StrEnum):
    POLICY = "policy"  # Step 1: Read regulations (Network Usage Policy)
    TERMS = "terms"  # Step 2: Read regulations (Terms of Use for Email Accounts)
    NAME = "name"  # Step 3: Set account
    NOTIFY = "notify"  # Designate email address for account notification
    NOTIFY_ADDRESS = "notify_address"  # another address, typed
    NOTIFY_CODE = "notify_code"  # the code mailed to it, typed back


# Addresses one application may try to designate (each gets a mailed code).
MAX_DESIGNATIONS = 3


@register
class MailboxApplication(Flow):
    """Apply for a new campus mailbox."""

    name = "mailbox_application"
    title = N_("Apply for a new mailbox")
    order = 50
    states = State
    needs_link = True

    async def start(self, ctx: Context) -> Step:
        refusal = await self._refusal(ctx)
        if refusal is not None:
            return Step.done(Text(refusal))
        ctx.data["part"] = 0
        return Step.goto(self._first_text_state(ctx) or State.NAME)

    def _text(self, ctx: Context, state: State) -> LocalizedText | None:
        mail = ctx.services.profile.mail
        return mail.usage_policy if state is State.POLICY else mail.terms

    def _first_text_state(self, ctx: Context) -> State | None:
        for state in (State.POLICY, State.TERMS):
            if self._text(ctx, state) is not None:
                return state
        return None

    async def prompt(self, ctx: Context, state: str) -> list[Reply]:
        current = State(state)
        if current in (State.NOTIFY, State.NOTIFY_ADDRESS, State.NOTIFY_CODE):
            return [self._notify_prompt(ctx, current)]
        if current is State.NAME:
            try:
                names = await self._names(ctx)
            except DirectoryUnavailable as exc:
                ctx.audit("apply", "unavailable")
                return [Text(ctx._(exc.msgid))]
            domain = ctx.services.profile.accounts.mail_domain
            return [
                ctx.choices(
                    ctx._(
                        "Choose the name of your mailbox. The names come from the English "
                        "name in your passport on record; names already taken are not listed."
                    ),
                    [(name, f"{name}@{domain}") for name in names],
                )
            ]
        text = self._text(ctx, current)
        assert text is not None
        parts = text_parts(text.get(ctx.locale))
        index = min(int(ctx.data.get("part", 0)), len(parts) - 1)
        last = index == len(parts) - 1
        if len(parts) > 1:
            shown = f"{parts[index]}\n\n" + ctx._(
                "(Part {n} of {total})", n=index + 1, total=len(parts)
            )
        else:
            shown = parts[index]
        options = [
            ("accept", ctx._("I accept; continue"))
            if last
            else ("more", ctx._("Continue reading")),
            ("decline", ctx._("I do not accept")),
        ]
        return [ctx.choices(shown, options)]

    async def handle(self, ctx: Context, state: str, answer: Answer) -> Step:
        current = State(state)
        if current is State.NAME:
            return await self._create(ctx, answer.choice)
        if current is State.NOTIFY:
            if answer.choice == "keep":
                return Step.done(self._notified(ctx, str(ctx.data["on_file"])))
            if answer.choice == "other":
                return Step.goto(State.NOTIFY_ADDRESS)
            return Step.goto(current, Text(ctx._(CHOOSE)))
        if current is State.NOTIFY_ADDRESS:
            return await self._send_notify_code(ctx, answer.text or "")
        if current is State.NOTIFY_CODE:
            return await self._check_notify_code(ctx, answer.text or "")
        if answer.choice == "decline":
            return Step.done(Text(ctx._("You did not accept, so no mailbox was created.")))
        if answer.choice == "more":
            ctx.data["part"] = int(ctx.data.get("part", 0)) + 1
            return Step.goto(current)
        if answer.choice == "accept":
            ctx.data["part"] = 0
            if current is State.POLICY and self._text(ctx, State.TERMS) is not None:
                return Step.goto(State.TERMS)
            return Step.goto(State.NAME)
        return Step.goto(current, Text(ctx._(CHOOSE)))

    async def _refusal(self, ctx: Context) -> str | None:
        person_id = ctx.identity.person_id
        remote = _remote(ctx)
        if person_id is None and remote is None:
            return await self._in_directory(ctx)
        if remote is not None:
            try:
                refused = await mailbox_applications.refusal_in_directory(
                    remote, ctx.services.profile, _owner(ctx)
                )
            except DirectoryUnavailable as exc:
                ctx.audit("apply", "unavailable")
                return ctx._(exc.msgid)
        else:
            assert person_id is not None
            refused = await mailbox_applications.refusal(
                ctx.session, ctx.services.profile, person_id
            )
        return self._refused(ctx, refused)

    def _refused(self, ctx: Context, refused: mailbox_applications.Ineligible | None) -> str | None:
        if refused is None:
            return None
        if refused.reason is mailbox_applications.Refusal.HAS_MAILBOX:
            return ctx._("You already have the mailbox {address}.", address=refused.address)
        if refused.reason is mailbox_applications.Refusal.NOT_ALLOWED:
            return sentences(
                ctx,
                ctx._(
                    "A new mailbox is for staff and for students who are enrolled or have "
                    "returned to study. Your record does not allow one."
                ),
                contact_text(ctx, "helpdesk"),
            )
        ctx.audit("apply", "no_address")
        return sentences(
            ctx,
            ctx._(
                "The link to set a new mailbox's password goes to your notification "
                "address on file, and none is on file for you."
            ),
            contact_text(ctx, "helpdesk"),
        )

    async def _in_directory(self, ctx: Context) -> str:
        """The answer to a chat linked to a directory entry: its mailbox, or the help desk."""
        owner = ctx.identity.directory_owner
        boxes: list[DirectoryAccount] = []
        try:
            if owner is not None:
                boxes = await ctx.services.directories(ctx.session).mailboxes_of(owner)
        except DirectoryUnavailable as exc:
            ctx.audit("apply", "unavailable")
            return ctx._(exc.msgid)
        domain = "@" + ctx.services.profile.accounts.mail_domain.lower()
        mine = next((box.name for box in boxes if box.name.lower().endswith(domain)), None)
        if mine is not None:
            return ctx._("You already have the mailbox {address}.", address=mine)
        ctx.audit("apply", "at_help_desk")
        return sentences(
            ctx,
            ctx._(
                "Your account is in the university's directory, where the help desk creates "
                "new mailboxes: apply for one there, not in this chat."
            ),
            contact_text(ctx, "helpdesk"),
        )

    async def _names(self, ctx: Context) -> list[str]:
        remote = _remote(ctx)
        if remote is not None:
            return await mailbox_applications.names_in_directory(
                remote, ctx.services.profile, _owner(ctx)
            )
        person_id = ctx.identity.person_id
        if person_id is None:
            return []
        return await mailbox_applications.names(ctx.session, ctx.services.profile, person_id)

    async def _create(self, ctx: Context, choice: str | None) -> Step:
        services = ctx.services
        profile = services.profile
        now = services.clock.now()
        person_id = ctx.identity.person_id
        remote = _remote(ctx)
        if remote is not None:
            try:
                return await self._create_in_directory(ctx, remote, choice)
            except DirectoryUnavailable as exc:
                ctx.audit("apply", "unavailable")
                return Step.done(Text(ctx._(exc.msgid)))
        if person_id is None:
            return Step.done(Text(await self._in_directory(ctx)))
        # The name must still be free: another chat may have taken it meanwhile.
        mailbox = None
        if choice is not None:
            mailbox = await mailbox_applications.create(
                ctx.session, profile, person_id, choice, now=now
            )
        if mailbox is None:
            return Step.goto(State.NAME, Text(ctx._("Please choose one of the names listed.")))
        # Issue 16.1: the link goes to the address on file, never into the chat, which
        # may have been linked only today (through an approved application, say).
        target = Target(
            kind="mailbox",
            id=mailbox.id,
            name=mailbox.address,
            person_id=mailbox.person_id,
            send_to=mailbox.notification_address,
            suspended=False,
            notice=None,
        )
        # The chat is linked and the mailbox new: nothing a stranger could repeat.
        await send_password_link(ctx, target, tokens.Purpose.RESET, now, proven=True)
        ctx.audit("apply", "created", mailbox=mailbox.id)
        ctx.data.update(mailbox=mailbox.id, address=mailbox.address, on_file=target.send_to)
        return Step.goto(
            State.NOTIFY,
            self._created(ctx, mailbox.address, mailbox.quota_limit_kb),
            self._link_sent(ctx, target.send_to or ""),
        )

    def _created(self, ctx: Context, address: str, quota_kb: int) -> Text:
        return Text(
            ctx._(
                "Created {address}.\nQuota: {used} of {limit}.\nThe mailbox takes "
                "effect within {minutes} minutes.",
                address=address,
                used=human_kb(0),
                limit=human_kb(quota_kb),
                minutes=ctx.services.profile.mail.takes_effect_minutes,
            )
        )

    def _link_sent(self, ctx: Context, notify: str) -> Text:
        return Text(
            ctx._(
                "A link to set its password was sent to {notify}, the address on file "
                "(it works once, for {minutes} minutes; never send a password in this "
                "chat).",
                notify=mask_address(notify),
                minutes=ctx.services.profile.lifetimes.reset_link_minutes,
            )
        )

    async def _create_in_directory(
        self, ctx: Context, remote: LdapDirectory, choice: str | None
    ) -> Step:
        """The chosen name on a directory: written there, or passed to the help desk."""
        services = ctx.services
        profile = services.profile
        owner = _owner(ctx)
        # Whoever may have applied meanwhile (another chat of the same person), or the
        # entry that changed since the names were offered, is checked again.
        refused = self._refused(
            ctx, await mailbox_applications.refusal_in_directory(remote, profile, owner)
        )
        if refused is not None:
            return Step.done(Text(refused))
        if choice is None:
            return Step.goto(State.NAME, Text(ctx._("Please choose one of the names listed.")))
        if profile.directory.applications == "queue":
            return await self._queue(ctx, remote, owner, choice)
        box = await mailbox_applications.create_in_directory(remote, profile, owner, choice)
        if box is None:
            return Step.goto(State.NAME, Text(ctx._("Please choose one of the names listed.")))
        ctx.audit("apply", "written")
        created = self._created(ctx, box.name, profile.mail.default_quota_kb)
        template = profile.directory.new_mailbox
        if template is not None and template.add_to == "owner":
            # The address joins the owner's own entry, whose password it shares.
            return Step.done(
                created,
                Text(ctx._("{address} uses the password of your account.", address=box.name)),
            )
        assert box.send_to is not None  # refused above without an address on file
        # The subject names the new entry, so the page sets its password in the directory.
        await send_password_link(ctx, box, tokens.Purpose.RESET, services.clock.now(), proven=True)
        ctx.data.update(entry=box.ref, address=box.name, on_file=box.send_to)
        return Step.goto(State.NOTIFY, created, self._link_sent(ctx, box.send_to))

    async def _queue(self, ctx: Context, remote: LdapDirectory, owner: str, choice: str) -> Step:
        services = ctx.services
        now = services.clock.now()
        queued = await mailbox_applications.queue_in_directory(
            ctx.session,
            remote,
            services.profile,
            owner,
            choice,
            channel=ctx.incoming.channel,
            chat_id=ctx.incoming.chat_id,
            actor=ctx.actor,
            locale=ctx.locale,
            now=now,
        )
        if queued is None:
            return Step.goto(State.NAME, Text(ctx._("Please choose one of the names listed.")))
        if queued.case is None:
            ctx.audit("apply", "rate_limited")
            return Step.done(too_many_cases(ctx))
        ctx.audit("apply", "queued", case=queued.case)
        address = f"{choice}@{services.profile.accounts.mail_domain}"
        parts = [
            ctx._(
                "Your application for {address} was passed to the help desk (case #{case}): "
                "the staff create the mailbox in the university's directory and answer in "
                "this chat.",
                address=address,
                case=queued.case,
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
        return Step.done(Text(sentences(ctx, *parts)))

    # -- seed 004's "Designate email address for account notification" ---------------------

    def _notify_prompt(self, ctx: Context, state: State) -> Reply:
        address = str(ctx.data["address"])
        if state is State.NOTIFY:
            on_file = mask_address(str(ctx.data["on_file"]))
            return ctx.choices(
                ctx._(
                    "Last step: the address for {address}'s notifications (password links "
                    "and notices). It is now your address on file, {notify}.",
                    address=address,
                    notify=on_file,
                ),
                [
                    ("keep", ctx._("Keep {notify}", notify=on_file)),
                    ("other", ctx._("Another address")),
                ],
            )
        if state is State.NOTIFY_ADDRESS:
            return Text(
                ctx._(
                    "Type the address for {address}'s notifications. I will mail it a code "
                    "to confirm it.",
                    address=address,
                )
            )
        return Text(
            ctx._(
                "Please type the 6-digit code sent to {notify}.",
                notify=mask_address(str(ctx.data["notify_to"])),
            )
        )

    def _notified(self, ctx: Context, notify: str) -> Text:
        return Text(
            ctx._(
                "Notifications for {address} go to {notify}.",
                address=str(ctx.data["address"]),
                notify=mask_address(notify),
            )
        )

    def _code_subject(self, ctx: Context) -> str:
        mailbox = ctx.data.get("mailbox", ctx.data["address"])  # a directory's: its address
        return f"notify:{mailbox}:{ctx.actor}"

    async def _send_notify_code(self, ctx: Context, text: str) -> Step:
        try:
            typed = read_email(text)
        except Refused as exc:
            return Step.goto(State.NOTIFY_ADDRESS, Text(ctx._(exc.msgid, **exc.params)))
        address = str(ctx.data["address"])
        if typed.lower() == address.lower():
            return Step.goto(
                State.NOTIFY_ADDRESS,
                Text(
                    ctx._(
                        "{address} cannot receive mail before it takes effect. Please type "
                        "another address.",
                        address=address,
                    )
                ),
            )
        tries = int(ctx.data.get("designations", 0)) + 1
        if tries > MAX_DESIGNATIONS:
            ctx.audit("notify_address", "too_many")
            return Step.done(self._notified(ctx, str(ctx.data["on_file"])))
        services = ctx.services
        now = services.clock.now()
        lifetimes = services.profile.lifetimes
        code = await issue_code(
            ctx.session,
            services.settings.pii_key,
            subject=self._code_subject(ctx),
            lifetime=dt.timedelta(minutes=lifetimes.link_code_minutes),
            now=now,
            data={},
        )
        # An address typed here proved nothing yet: its mail is spaced and capped.
        if await may_mail(ctx, typed, proven=False, now=now):
            t = Translator(ctx.locale)
            enqueue(
                ctx.session,
                to=typed,
                subject=t._(
                    "Your code for the {institution} helpdesk",
                    institution=services.profile.display_name.get(ctx.locale),
                ),
                body=t._(
                    "Your code is {code}. Type it in the chat within {minutes} minutes to "
                    "receive the notifications of {account} at this address. If you did not "
                    "ask for it, ignore this mail.",
                    code=code,
                    minutes=lifetimes.link_code_minutes,
                    account=address,
                ),
                now=now,
            )
        ctx.data.update(designations=tries, notify_to=typed)
        ctx.audit("notify_address", "code_sent")
        return Step.goto(State.NOTIFY_CODE)

    async def _check_notify_code(self, ctx: Context, text: str) -> Step:
        digits = re.sub(r"\D", "", normalise(text))
        if len(digits) != 6:
            return Step.goto(State.NOTIFY_CODE, Text(ctx._("The code has 6 digits.")))
        services = ctx.services
        now = services.clock.now()
        result, _row = await check_code(
            ctx.session,
            services.settings.pii_key,
            subject=self._code_subject(ctx),
            code=digits,
            max_attempts=services.profile.lifetimes.link_code_attempts,
            now=now,
        )
        if result is CodeCheck.WRONG:
            ctx.audit("notify_address", "wrong_code")
            return Step.goto(State.NOTIFY_CODE, Text(ctx._("That code is not right.")))
        if result is CodeCheck.ENDED:
            ctx.audit("notify_address", "ended")
            return Step.done(
                Text(ctx._("That code no longer works, so nothing was changed.")),
                self._notified(ctx, str(ctx.data["on_file"])),
            )
        notify = str(ctx.data["notify_to"])
        remote = _remote(ctx)
        if "entry" in ctx.data and remote is not None:
            try:
                await remote.set_notification_address(str(ctx.data["entry"]), notify)
            except DirectoryUnavailable as exc:
                ctx.audit("notify_address", "unavailable")
                return Step.done(
                    Text(ctx._(exc.msgid)), self._notified(ctx, str(ctx.data["on_file"]))
                )
            ctx.audit("notify_address", "designated")
            return Step.done(self._notified(ctx, notify))
        mailbox_id = int(ctx.data["mailbox"])
        await mailbox_applications.designate(ctx.session, mailbox_id, notify)
        ctx.audit("notify_address", "designated", mailbox=mailbox_id)
        return Step.done(self._notified(ctx, notify))


def _remote(ctx: Context) -> LdapDirectory | None:
    """The LDAP or AD directory where the profile describes its mailboxes, else None."""
    if mailbox_applications.template(ctx.services.profile) is None:
        return None
    return ctx.services.directories.remote


def _owner(ctx: Context) -> str:
    """The directory entry the chat is linked to (``needs_link``: there is one)."""
    owner = ctx.identity.directory_owner
    assert owner is not None
    return owner
