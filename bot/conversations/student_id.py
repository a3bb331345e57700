"""Student ID lookup (seed 001, iNTUE 學生學號查詢): degree level, ID number, birthday.

The portal guards this with a CAPTCHA; a chat uses rate limits instead (DESIGN.md,
flow 1): per chat user (5 misses lock 15 minutes, Taiwan's baseline), per looked-up
ID number per day, and globally per minute. A miss always gets the same answer, so
the bot cannot be used to test which ID numbers exist.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from bot.conversations.common import (
    BIRTHDAY_PROBLEMS,
    BIRTHDAY_QUESTION,
    CHOOSE,
    ID_NUMBER_QUESTION,
    degree_levels,
    explain_id_problem,
    today,
)
from bot.desk import contact_text, offer_person, sentences
from bot.flow import Answer, Context, Flow, Step, register
from bot.types import Reply, Text
from core.birthdays import InvalidBirthday, parse_birthday
from core.directory import StudentMatch
from core.i18n import N_
from core.idnumbers import IdKind, InvalidIdNumber, parse_id_number
from core.models import RecordStatus
from core.profiles import LookupGroup
from core.ratelimit import RateLimiter


class State(StrEnum):
    LEVEL = "level"  # 拉選學制
    ID_NUMBER = "id_number"  # 輸入身分證號
    BIRTHDAY = "birthday"  # 及生日，按[查詢]
    RETRY = "retry"  # no match: try again with the same degree level, or stop


TOO_OFTEN = N_("This ID number has been looked up too often today. Please try again tomorrow.")
NO_MATCH = N_(
    "No student ID matches these details. Please check the degree level, the ID number "
    "and the birthday, and try again. If it still does not match:"
)

# Typed answers to "Try again?" besides the labels.
RETRY_WORDS = {
    "retry": [
        "again",
        "retry",
        "try again",
        "yes",
        "再試",
        "再試一次",
        "重試",
        "重新查詢",
        "再查一次",
        "好",
    ],
    "level": ["another level", "change level", "換學制", "其他學制", "改學制"],
    "menu": ["back", "no", "返回", "回選單", "不用", "不要"],
}


@register
class StudentIdLookup(Flow):
    """Tell a new student their student ID."""

    name = "student_id"
    title = N_("Look up my student ID")
    order = 10
    states = State

    def __init__(self) -> None:
        self.limiter = RateLimiter()

    async def start(self, ctx: Context) -> Step:
        locked = await self._locked_reply(ctx)
        if locked is not None:
            return Step.done(locked)
        return Step.goto(State.LEVEL)

    async def prompt(self, ctx: Context, state: str) -> list[Reply]:
        match State(state):
            case State.LEVEL:
                return [degree_levels(ctx, N_("Which degree programme were you admitted to?"))]
            case State.ID_NUMBER:
                return [Text(ctx._(ID_NUMBER_QUESTION))]
            case State.BIRTHDAY:
                return [Text(ctx._(BIRTHDAY_QUESTION))]
            case State.RETRY:
                level = ctx.services.profile.degree_level(ctx.data.get("level", ""))
                name = level.name.get(ctx.locale) if level else ""
                return [
                    ctx.choices(
                        ctx._("Try again?"),
                        [
                            ("retry", ctx._("Try again ({level})", level=name)),
                            ("level", ctx._("Try again with another degree level")),
                            # No match twice may be the record's fault: a person can look.
                            offer_person(ctx),
                            ("menu", ctx._("Back to the menu")),
                        ],
                        RETRY_WORDS,
                    )
                ]

    async def handle(self, ctx: Context, state: str, answer: Answer) -> Step:
        match State(state):
            case State.LEVEL:
                level = ctx.services.profile.degree_level(answer.choice or "")
                if level is None:
                    return Step.goto(State.LEVEL, Text(ctx._(CHOOSE)))
                ctx.data["level"] = level.code
                return Step.goto(State.ID_NUMBER)
            case State.ID_NUMBER:
                return self._read_id_number(ctx, answer.text or "")
            case State.BIRTHDAY:
                return await self._look_up(ctx, answer.text or "")
            case State.RETRY:
                return await self._retry(ctx, answer)

    async def _retry(self, ctx: Context, answer: Answer) -> Step:
        """After a miss: the same degree level again (the usual mistake is a digit)."""
        ctx.data.pop("id_hash", None)
        match answer.choice:
            case "retry":
                return await self._again(ctx, State.ID_NUMBER)
            case "level":
                return await self._again(ctx, State.LEVEL)
            case "menu":
                return Step.done()
        if answer.text:
            # An ID number typed straight away is the answer to the retry's first question.
            return self._read_id_number(ctx, answer.text)
        return Step.goto(State.RETRY, Text(ctx._(CHOOSE)))

    async def _again(self, ctx: Context, state: State) -> Step:
        locked = await self._locked_reply(ctx)
        return Step.done(locked) if locked is not None else Step.goto(state)

    def _read_id_number(self, ctx: Context, text: str) -> Step:
        try:
            number = parse_id_number(text, today=today(ctx))
        except InvalidIdNumber as exc:
            return Step.goto(State.ID_NUMBER, Text(ctx._(explain_id_problem(exc))))
        # Only the keyed hash is kept between steps: the state row never holds the number.
        ctx.data["id_hash"] = ctx.services.pii.id_number(number.value)
        # Which document it is decides the first-login password (seed 001, 境外新生).
        ctx.data["resident"] = number.kind is not IdKind.NATIONAL_ID
        return Step.goto(State.BIRTHDAY)

    async def _look_up(self, ctx: Context, text: str) -> Step:
        services = ctx.services
        now = services.clock.now()
        try:
            birthday = parse_birthday(text, today=now.astimezone(services.profile.zone).date())
        except InvalidBirthday as exc:
            return Step.goto(State.BIRTHDAY, Text(ctx._(BIRTHDAY_PROBLEMS[exc.problem])))
        locked = await self._locked_reply(ctx)
        if locked is not None:
            return Step.done(locked)

        limits = services.profile.limits
        busy = await self.limiter.hit_spread(
            ctx.session,
            "lookup:global",
            window=dt.timedelta(minutes=1),
            now=now,
            limit=limits.lookups_global_per_minute,
        )
        per_id = await self.limiter.hit(
            ctx.session, f"lookup:id:{ctx.data['id_hash']}", window=dt.timedelta(days=1), now=now
        )
        if busy.count > limits.lookups_global_per_minute:
            ctx.audit("lookup", "rate_limited_global")
            return Step.done(
                Text(ctx._("Many people are asking right now. Please try again in a minute."))
            )
        if per_id.count > limits.lookups_per_id_per_day:
            ctx.audit("lookup", "rate_limited_id")
            return Step.done(Text(ctx._(TOO_OFTEN)))

        found = await services.directories(ctx.session).find_students(
            id_number_hash=ctx.data["id_hash"],
            birthday_hash=services.pii.birthday(birthday),
            degree_level=ctx.data["level"],
        )
        if not found:
            locked_until = await self.limiter.record_failure(
                ctx.session,
                f"lookup:{ctx.actor}",
                limit=limits.failures_per_user,
                lockout=dt.timedelta(minutes=limits.lockout_minutes),
                now=now,
            )
            ctx.audit("lookup", "no_match")
            miss = Text(sentences(ctx, ctx._(NO_MATCH), contact_text(ctx, "registration")))
            if locked_until is not None:
                return Step.done(miss, self._locked_text(ctx, locked_until))
            return Step.goto(State.RETRY, miss)
        ctx.audit("lookup", "match")
        return Step.done(*self._found(ctx, found))

    def _found(self, ctx: Context, found: list[StudentMatch]) -> list[Reply]:
        """The student ID, and what this person logs in with: the profile's rules for
        students, students with a resident certificate, or alumni (seeds 001, 003)."""
        profile = ctx.services.profile
        student_ids = [match.student_id for match in found]
        first = student_ids[0]
        if found[0].status == RecordStatus.GRADUATED:
            group: LookupGroup = "alumnus"
        elif ctx.data.get("resident"):
            group = "resident_student"
        else:
            group = "student"
        guidance = profile.guidance(group)
        lines = [ctx._("Your student ID is {student_id}.", student_id=", ".join(student_ids))]
        account = first
        if guidance.account == "alumni_account":
            account = profile.accounts.alumni_account_for(first) or first
            lines.append(ctx._("Your alumni account is {account}.", account=account))
        mail = profile.accounts.campus_mail_for(first)
        if mail and group != "alumnus":
            lines.append(ctx._("Your campus mailbox is {address}.", address=mail))
        if guidance.portal_name is not None:
            portal = guidance.portal_name.get(ctx.locale)
            if guidance.account == "alumni_account":
                login = ctx._(
                    "Log in to {portal} at {url} with {account} as the account.",
                    portal=portal,
                    url=guidance.portal_url or "",
                    account=account,
                )
            else:
                login = ctx._(
                    "Log in to {portal} at {url} with your student ID as the account.",
                    portal=portal,
                    url=guidance.portal_url or "",
                )
            lines.append(login)
        if guidance.first_login_password is not None:
            lines.append(guidance.first_login_password.get(ctx.locale))
        if guidance.ask is not None:
            lines.append(contact_text(ctx, guidance.ask))
        return [Text("\n".join(lines))]

    async def _locked_reply(self, ctx: Context) -> Reply | None:
        until = await self.limiter.locked_until(
            ctx.session, f"lookup:{ctx.actor}", now=ctx.services.clock.now()
        )
        if until is None:
            return None
        ctx.audit("lookup", "locked")
        return self._locked_text(ctx, until)

    def _locked_text(self, ctx: Context, until: dt.datetime) -> Text:
        local = until.astimezone(ctx.services.profile.zone)
        return Text(
            ctx._(
                "Too many lookups did not match, so lookups are paused for you until {time} "
                "(Taiwan time). Please try again after that.",
                time=local.strftime("%Y-%m-%d %H:%M"),
            )
        )
