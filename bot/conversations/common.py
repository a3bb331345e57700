"""What several flows say and do alike; flows import this, never each other.

Explaining a mistyped ID number or birthday, the limits on mailed links and codes, a
one-time password link by mail and the sentence that says where it went, the
degree-level question, and the passwords the school requires to be changed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from bot.desk import contact_text, sentences
from bot.flow import Context
from bot.types import Choices, Text
from core import tokens
from core.accounts import Target
from core.birthdays import BirthdayProblem
from core.directory import DirectoryAccount, link_subject
from core.directory.chats import owner_of
from core.i18n import N_, Translator
from core.idnumbers import IdKind, IdProblem, InvalidIdNumber
from core.mail import enqueue, mask_address
from core.models import CardView
from core.password_policy import Violation
from core.ratelimit import MailRequests, RateLimiter

ID_PROBLEMS: dict[IdProblem, str] = {
    IdProblem.EMPTY: N_("Please type the ID number."),
    IdProblem.TOO_LONG: N_("That is far longer than an ID number, which has 10 characters."),
    IdProblem.BAD_LENGTH: N_(
        "An ID number has 10 characters: one letter and nine digits "
        "(an old resident certificate number: two letters and eight digits)."
    ),
    IdProblem.BAD_FIRST_LETTER: N_("An ID number starts with a letter from A to Z."),
    IdProblem.BAD_SECOND_CHARACTER: N_(
        "The second character must be 1 or 2 for a national ID, 8 or 9 for a resident "
        "certificate number, or A to D for an old resident certificate number."
    ),
    IdProblem.NOT_DIGITS: N_("After the first letter(s) an ID number has only digits."),
    IdProblem.CHECK_DIGIT: N_(
        "The check digit does not match: one of the characters is probably mistyped."
    ),
    IdProblem.OLD_RESIDENT_EXPIRED: N_(
        "Resident certificate numbers of the old form stopped working on 2031-01-01. "
        "Please use the number of your new certificate."
    ),
}
CHECK_DIGIT_BY_KIND: dict[IdKind, str] = {
    IdKind.RESIDENT_OLD: N_(
        "This looks like a resident certificate number of the old form (two letters), "
        "but its check digit does not match. Please check each character."
    ),
    IdKind.RESIDENT_NEW: N_(
        "This looks like a resident certificate number of the new form (issued since "
        "2021), but its check digit does not match. Please check each character."
    ),
}


def explain_id_problem(exc: InvalidIdNumber) -> str:
    """The msgid that tells the user what is wrong with the ID number they typed."""
    if exc.problem is IdProblem.CHECK_DIGIT and exc.kind in CHECK_DIGIT_BY_KIND:
        return CHECK_DIGIT_BY_KIND[exc.kind]
    return ID_PROBLEMS[exc.problem]


BIRTHDAY_PROBLEMS: dict[BirthdayProblem, str] = {
    BirthdayProblem.EMPTY: N_("Please type your birthday."),
    BirthdayProblem.TOO_LONG: N_("That is too long to be a date."),
    BirthdayProblem.UNRECOGNISED: N_(
        "I could not read that as a date. Examples: 1996-01-02, 19960102, or in the "
        "ROC calendar 85/01/02 or 850102."
    ),
    BirthdayProblem.IMPOSSIBLE_DATE: N_(
        "That date does not exist. Please check the month and day."
    ),
    BirthdayProblem.IN_FUTURE: N_("That date is in the future."),
    BirthdayProblem.TOO_OLD: N_("That date is before 1900. Please check the year."),
}

ID_NUMBER_QUESTION = N_(
    "Please type your national ID number (身分證字號), or your resident certificate "
    "number (居留證號) if you hold one."
)
BIRTHDAY_QUESTION = N_(
    "Please type your birthday, for example 1996-01-02, or in the ROC calendar 85/01/02."
)
CHOOSE = N_("Please choose one of the options.")


# What people type for the usual programmes, in either language, besides the labels
# (a profile adds its own with a level's ``synonyms``).
DEGREE_SYNONYMS: dict[str, list[str]] = {
    code: words.split("|")
    for code, words in {
        "bachelor": "學士|學士班|大學|大學部|大學生|bachelor|bachelors|bachelor's|undergraduate"
        "|undergrad|ba|bs|bsc",
        "master": "碩士|碩士班|碩|研究所|研究生|master|masters|master's|ma|ms|msc|graduate",
        "master_in_service": "碩專|碩專班|在職專班|在職碩士|在職|emba|in-service|in service"
        "|executive master",
        "doctoral": "博士|博士班|博|博士生|phd|ph.d.|ph.d|doctor|doctoral|doctorate",
        "continuing": "進修學士|進修學士班|進學班|進修部|夜間部|continuing|continuing education"
        "|night school",
    }.items()
}


def degree_levels(ctx: Context, question: str) -> Choices:
    """The profile's degree programmes as buttons under ``question`` (a msgid).

    Typed answers are understood in either language, whatever the chat's language:
    both names of each level and its synonyms ("碩士", "PhD", "Bachelor").
    """
    levels = ctx.services.profile.degree_levels
    synonyms = {
        level.code: (
            level.name.zh_TW,
            level.name.en,
            *DEGREE_SYNONYMS.get(level.code, ()),
            *level.synonyms,
        )
        for level in levels
    }
    return ctx.choices(
        ctx._(question), [(level.code, level.name.get(ctx.locale)) for level in levels], synonyms
    )


def too_many_cases(ctx: Context) -> Text:
    """The answer when the chat has opened the most help desk cases a day allows."""
    return Text(
        sentences(
            ctx,
            ctx._("You have opened the most help desk cases a day allows."),
            contact_text(ctx, "helpdesk"),
        )
    )


def today(ctx: Context) -> dt.date:
    """Today in the institution's time zone."""
    return ctx.services.clock.now().astimezone(ctx.services.profile.zone).date()


# -- mailed links and codes --------------------------------------------------------------


def mail_requests(ctx: Context) -> MailRequests:
    """The profile's limits on mailed links and codes (``core.ratelimit.MailRequests``)."""
    services = ctx.services
    return MailRequests(LIMITER, services.pii, services.profile.limits)


LIMITER = RateLimiter()


async def too_many_requests(ctx: Context, now: dt.datetime) -> Text | None:
    """Refuse a request for a mailed link or code when the asker or the service is over.

    Counted per chat user and overall, never per account name: anyone can name anyone's
    account, so a count per name would let strangers lock its owner out.
    """
    until = await mail_requests(ctx).refused_until(ctx.session, actor=ctx.actor, now=now)
    return None if until is None else _refused(ctx, until)


async def too_many_proven(ctx: Context, name: str, now: dt.datetime) -> Text | None:
    """Count a request for ``name`` that proved the owner (the ID number; a linked chat)."""
    until = await mail_requests(ctx).proven_refused_until(ctx.session, name=name, now=now)
    return None if until is None else _refused(ctx, until)


async def unproven_decoy(ctx: Context, now: dt.datetime) -> None:
    """The counting a proven request does, under keys of the asker's own.

    A request whose ID number did not match must take as long as one that did (the
    answers are timed alike, tests/reliability/test_enumeration.py), without counting
    against the account it named.
    """
    requests = mail_requests(ctx)
    decoy = f"unproven:{ctx.actor}"
    await requests.proven_refused_until(ctx.session, name=decoy, now=now)
    await requests.may_mail(ctx.session, address=decoy, proven=True, now=now)


async def may_mail(ctx: Context, address: str, *, proven: bool, now: dt.datetime) -> bool:
    """Whether a mail to ``address`` may be queued now (spacing, hourly cap)."""
    return await mail_requests(ctx).may_mail(ctx.session, address=address, proven=proven, now=now)


def _refused(ctx: Context, until: dt.datetime) -> Text:
    ctx.audit("link_request", "rate_limited")
    local = until.astimezone(ctx.services.profile.zone).strftime("%Y-%m-%d %H:%M")
    return Text(
        ctx._(
            "Too many requests for a link. Please try again after {time} (Taiwan time).",
            time=local,
        )
    )


def sent_to(ctx: Context, shown: str | None) -> str:
    """Where a link or code went: the masked address if the name is one, else "on file"."""
    if shown is None:
        return ctx._("to the address on file for this account")
    return ctx._(
        "to {address} (or, if that mailbox cannot receive mail, to your "
        "notification address on file)",
        address=mask_address(shown),
    )


async def send_password_link(
    ctx: Context,
    target: Target | DirectoryAccount,
    purpose: tokens.Purpose,
    now: dt.datetime,
    *,
    proven: bool,
) -> bool:
    """Issue a one-time link for ``target`` and queue the mail that carries it.

    Returns False, queueing nothing, when the address had its share of mail from
    requests that proved nothing (``proven`` False); the caller's reply stays the same.
    """
    assert target.send_to is not None
    services = ctx.services
    if not await may_mail(ctx, target.send_to, proven=proven, now=now):
        ctx.audit("link_mail", "held_back")
        return False
    token = await tokens.issue(
        ctx.session,
        purpose=purpose,
        subject=target.subject if isinstance(target, Target) else link_subject(target),
        lifetime=dt.timedelta(minutes=services.profile.lifetimes.reset_link_minutes),
        now=now,
        data={
            "locale": ctx.locale,
            "channel": ctx.incoming.channel,
            "chat_id": ctx.incoming.chat_id,
        },
    )
    t = Translator(ctx.locale)
    url = f"{services.settings.public_url.rstrip('/')}/password/{token}"
    institution = services.profile.display_name.get(ctx.locale)
    enqueue(
        ctx.session,
        to=target.send_to,
        subject=t._(
            "{institution}: set the password of {account}",
            institution=institution,
            account=target.name,
        ),
        body=t._(
            "Someone, hopefully you, asked the {institution} helpdesk for a link to "
            "set the password of {account}.\n\n{url}\n\nThe link works once, for "
            "{minutes} minutes. If this was not you, ignore this mail: nothing changes.",
            institution=institution,
            account=target.name,
            url=url,
            minutes=services.profile.lifetimes.reset_link_minutes,
        ),
        now=now,
    )
    return True


# -- the chat's link to a person ------------------------------------------------------------


async def close_open_cards(ctx: Context) -> list[Text]:
    """Stop refreshing any alumni card open in this chat (its person is changing).

    An open card belongs to whoever the chat was linked to: after ``/unlink`` or a link
    to another account it must not go on refreshing there. Returns what to tell the user.
    """
    result = await ctx.session.execute(
        update(CardView)
        .where(
            CardView.channel == ctx.incoming.channel,
            CardView.chat_id == ctx.incoming.chat_id,
            CardView.closed_at.is_(None),
        )
        .values(closed_at=ctx.services.clock.now())
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return []
    return [Text(ctx._("The alumni card open in this chat is closed."))]


# -- passwords the school requires to be changed --------------------------------------------

SET_BY_SCHOOL = N_(
    "The password of {account} was set by the school and must be changed before you use "
    "the account."
)
SET_BEFORE_CUTOFF = N_(
    "The password of {account} was set before {date}, and passwords set before then must "
    "be changed."
)
EXPIRED = N_("The password of {account} is older than {days} days and has expired.")


async def forced_changes(ctx: Context) -> list[tuple[DirectoryAccount, str]]:
    """The linked person's accounts whose password must be changed, each with the reason.

    The accounts come from the directory (``Directory.accounts_of`` the chat's linked
    owner, a ``people`` row or an LDAP entry); what it says of each password
    (``Directory.password_state``: its own must-change flag and maximum age) is read
    under the profile's rules.
    """
    owner = owner_of(ctx.identity)
    if owner is None:
        return []
    policy = ctx.services.profile.password_policy
    zone = ctx.services.profile.zone
    now = ctx.services.clock.now()
    directory = ctx.services.directories(ctx.session)
    out: list[tuple[DirectoryAccount, str]] = []
    for account in await directory.accounts_of(owner):
        state = await directory.password_state(account)
        why = state.reason(policy, now=now, zone=zone)
        if why is None:
            continue
        if state.must_change:
            reason = ctx._(SET_BY_SCHOOL, account=account.name)
        elif why is Violation.EXPIRED:
            reason = ctx._(EXPIRED, account=account.name, days=policy.max_age_days)
        else:
            cutoff = policy.changed_before_must_change
            reason = ctx._(SET_BEFORE_CUTOFF, account=account.name, date=str(cutoff))
        out.append((account, reason))
    return out


def no_address(ctx: Context, address: str) -> Text:
    """No address on file to mail a link to: say so, and whom to contact."""
    return Text(
        sentences(
            ctx,
            ctx._(
                "{address} has no notification address on file, so I cannot send a link.",
                address=address,
            ),
            contact_text(ctx, "helpdesk"),
        )
    )


def change_now_option(ctx: Context, account: DirectoryAccount) -> tuple[str, str]:
    """The button that mails a link to change ``account``'s password now."""
    return (
        f"change:{account.name}",
        ctx._("Change the password of {account} now", account=account.name),
    )


async def send_change_link(ctx: Context, name: str) -> Text | None:
    """Mail a change link for one of the linked person's accounts; None if not theirs."""
    target = next((a for a, _ in await forced_changes(ctx) if a.name == name), None)
    if target is None:
        return None
    now = ctx.services.clock.now()
    # A linked chat has proved control of the address on file: the owner is asking.
    refused = await too_many_requests(ctx, now) or await too_many_proven(ctx, target.name, now)
    if refused is not None:
        return refused
    if target.send_to is None:
        ctx.audit("change_link", "no_address")
        return no_address(ctx, target.name)
    await send_password_link(ctx, target, tokens.Purpose.CHANGE, now, proven=True)
    ctx.audit("change_link", "sent")
    return Text(
        ctx._(
            "A link to set the password of {address} was sent to {notify}. It works "
            "once, for {minutes} minutes.",
            address=target.name,
            notify=mask_address(target.send_to),
            minutes=ctx.services.profile.lifetimes.reset_link_minutes,
        )
    )
