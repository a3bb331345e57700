"""Student ID lookup (seed 001, iNTUE 學生學號查詢): degree level, ID number, birthday.

The portal guards this with a CAPTCHA; a chat uses rate limits instead (DESIGN.md,
flow 1): per chat user (5 misses lock 15 minutes, Taiwan's baseline), per looked-up
ID number per day, and globally per minute. A miss always gets the same answer, so
the bot cannot be used to test which ID numbers exist.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from bot.flow import Answer, Context, Flow, Step, register
from bot.types import Reply, Text
from core import audit
from core.birthdays import BirthdayProblem, InvalidBirthday, parse_birthday
from core.directory import find_student_ids
from core.i18n import N_
from core.idnumbers import IdKind, IdProblem, InvalidIdNumber, parse_id_number
from core.ratelimit import RateLimiter


class State(StrEnum):
    LEVEL = "level"  # 拉選學制
    ID_NUMBER = "id_number"  # 輸入身分證號
    BIRTHDAY = "birthday"  # 及生日，按[查詢]


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

TOO_OFTEN = N_("This ID number has been looked up too often today. Please try again tomorrow.")
NO_MATCH = N_(
    "No student ID matches these details. Please check the degree level, the ID number "
    "and the birthday, and try again. If it still does not match, contact the "
    "registration office."
)


@register
class StudentIdLookup(Flow):
    """Tell a new student their student ID."""

    name = "student_id"
    title = N_("Look up my student ID")
    order = 10

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
                levels = ctx.services.profile.degree_levels
                return [
                    ctx.choices(
                        ctx._("Which degree programme were you admitted to?"),
                        [(level.code, level.name.get(ctx.locale)) for level in levels],
                    )
                ]
            case State.ID_NUMBER:
                return [
                    Text(
                        ctx._(
                            "Please type your national ID number (身分證字號), or your "
                            "resident certificate number (居留證號) if you hold one."
                        )
                    )
                ]
            case State.BIRTHDAY:
                return [
                    Text(
                        ctx._(
                            "Please type your birthday, for example 1996-01-02, or in the "
                            "ROC calendar 85/01/02."
                        )
                    )
                ]

    async def handle(self, ctx: Context, state: str, answer: Answer) -> Step:
        match State(state):
            case State.LEVEL:
                level = ctx.services.profile.degree_level(answer.choice or "")
                if level is None:
                    return Step.goto(State.LEVEL, Text(ctx._("Please choose one of the options.")))
                ctx.data["level"] = level.code
                return Step.goto(State.ID_NUMBER)
            case State.ID_NUMBER:
                return self._read_id_number(ctx, answer.text or "")
            case State.BIRTHDAY:
                return await self._look_up(ctx, answer.text or "")

    def _read_id_number(self, ctx: Context, text: str) -> Step:
        today = ctx.services.clock.now().astimezone(ctx.services.profile.zone).date()
        try:
            number = parse_id_number(text, today=today)
        except InvalidIdNumber as exc:
            return Step.goto(State.ID_NUMBER, Text(ctx._(explain_id_problem(exc))))
        # Only the keyed hash is kept between steps: the state row never holds the number.
        ctx.data["id_hash"] = ctx.services.pii.id_number(number.value)
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
            self._audit(ctx, "rate_limited_global")
            return Step.done(
                Text(ctx._("Many people are asking right now. Please try again in a minute."))
            )
        if per_id.count > limits.lookups_per_id_per_day:
            self._audit(ctx, "rate_limited_id")
            return Step.done(Text(ctx._(TOO_OFTEN)))

        student_ids = await find_student_ids(
            ctx.session,
            services.pii,
            id_number_hash=ctx.data["id_hash"],
            birthday=birthday,
            degree_level=ctx.data["level"],
        )
        if not student_ids:
            locked_until = await self.limiter.record_failure(
                ctx.session,
                f"lookup:{ctx.actor}",
                limit=limits.failures_per_user,
                lockout=dt.timedelta(minutes=limits.lockout_minutes),
                now=now,
            )
            self._audit(ctx, "no_match")
            replies: list[Reply] = [Text(ctx._(NO_MATCH))]
            if locked_until is not None:
                replies.append(self._locked_text(ctx, locked_until))
            return Step.done(*replies)
        self._audit(ctx, "match")
        return Step.done(*self._found(ctx, student_ids))

    def _found(self, ctx: Context, student_ids: list[str]) -> list[Reply]:
        accounts = ctx.services.profile.accounts
        lines = [ctx._("Your student ID is {student_id}.", student_id=", ".join(student_ids))]
        first = student_ids[0]
        mail = accounts.campus_mail_for(first)
        if mail:
            lines.append(ctx._("Your campus mailbox is {address}.", address=mail))
        lines.append(
            ctx._(
                "Log in to {portal} at {url} with your student ID as the account.",
                portal=accounts.portal_name.get(ctx.locale),
                url=accounts.portal_url,
            )
        )
        if accounts.first_login_password is not None:
            lines.append(accounts.first_login_password.get(ctx.locale))
        return [Text("\n".join(lines))]

    async def _locked_reply(self, ctx: Context) -> Reply | None:
        until = await self.limiter.locked_until(
            ctx.session, f"lookup:{ctx.actor}", now=ctx.services.clock.now()
        )
        if until is None:
            return None
        self._audit(ctx, "locked")
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

    def _audit(self, ctx: Context, outcome: str) -> None:
        audit.record(
            ctx.session,
            at=ctx.services.clock.now(),
            channel=ctx.incoming.channel,
            actor=ctx.actor,
            flow=self.name,
            action="lookup",
            outcome=outcome,
        )
