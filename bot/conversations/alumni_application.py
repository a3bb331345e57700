"""Applying for an alumni account in chat (seed 003, NTU alumni centre 校友帳號申請).

Seed 003's form, one question at a time: personal data (中文姓名, 英文姓名, 性別,
身分證字號/居留證號, 生日), the education record (學籍資料: degree programme, department,
student ID, years), contact details (手機, 電子信箱, 地址) and consent to the personal data
notice (勾選個資同意). The answers are shown for review and can be corrected before
submitting. The alumni centre reviews an application in about 7 working days and mails
the decision (seed 003); staff decide with ``helpdesk alumni`` and the applicant is also
told here. An approved account is B + student ID + 00, its first-login password the ID
number with its letters in upper case, changed at the first login (seed 003).

Between steps the conversation keeps the ID number and birthday only as keyed hashes and
masked forms, and the first-login password only as its argon2 hash, computed before the
step's transaction (``prepare``) so that no database lock waits for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversations.common import (
    BIRTHDAY_PROBLEMS,
    BIRTHDAY_QUESTION,
    CHOOSE,
    ID_NUMBER_QUESTION,
    degree_levels,
    explain_id_problem,
    today,
)
from bot.desk import contact_text, sentences
from bot.flow import Answer, Context, Flow, Step, register
from bot.services import Services
from bot.types import Reply, Text
from core.accounts import username_taken
from core.alumni import MAIL_SUBJECT
from core.application_answers import (
    Refused,
    read_address,
    read_department,
    read_email,
    read_mobile,
    read_name_en,
    read_name_zh,
    read_student_id,
    read_year,
    shown_mobile,
)
from core.birthdays import ROC_OFFSET, InvalidBirthday, parse_birthday
from core.i18n import N_
from core.idnumbers import InvalidIdNumber, parse_id_number
from core.mail import enqueue
from core.models import AlumniApplication, ApplicationStatus


class State(StrEnum):
    NAME_ZH = "name_zh"  # 個人資料: 中文姓名
    NAME_EN = "name_en"  # 英文姓名
    SEX = "sex"  # 性別
    ID_NUMBER = "id_number"  # 身分證字號/居留證號
    BIRTHDAY = "birthday"  # 生日
    DEGREE_LEVEL = "degree_level"  # 學籍資料
    DEPARTMENT = "department"
    STUDENT_ID = "student_id"
    ENTRY_YEAR = "entry_year"
    GRADUATION_YEAR = "graduation_year"
    MOBILE = "mobile"  # 聯繫資料: 手機
    EMAIL = "email"  # 電子信箱
    ADDRESS = "address"  # 地址
    CONSENT = "consent"  # 勾選個資同意
    REVIEW = "review"
    CORRECT = "correct"


Values = dict[str, Any]
Reader = Callable[[Context, Answer], Awaitable[Values | Step]]
Prompt = Callable[[Context], Reply]
Shown = Callable[[Context, Any], str]


@dataclass(frozen=True, slots=True)
class Question:
    """One field of the form: how it is asked, read, kept and shown in the review."""

    state: State
    label: str  # msgid of the field's name in the review
    prompt: Prompt
    read: Reader  # the values to keep, or raises Refused with the explanation
    keys: tuple[str, ...]  # what the field keeps; the first is the one the review shows
    shown: Shown = lambda ctx, value: str(value)


SEXES: dict[str, str] = {"male": N_("Male"), "female": N_("Female")}  # seed 003: 男, 女

# Seed 003: 需要7個工作日審查.
REVIEW_WORKING_DAYS = 7

INTRO = N_(
    "To apply for an alumni account I will ask for your personal data, your education "
    "record and how to reach you, then show you everything to check before you submit. "
    "Nothing is stored until you submit; send /cancel at any time to stop."
)
NOTICE = N_(
    "Personal data notice. {institution} collects the data of this application (your "
    "names, sex, ID number, birthday, education record, mobile number, e-mail and postal "
    "address) under Taiwan's Personal Data Protection Act, only to check that you are an "
    "alumnus or alumna, to create your alumni account and to contact you about it. The "
    "data is used within the university for alumni services only and kept while you have "
    "the account; the ID number and birthday are stored only in a form that cannot be read "
    "back. You may ask the alumni centre to show, correct or delete your data. If you do "
    "not agree, the application cannot be made."
)
DECLINED = N_(
    "You did not agree to the personal data notice, so no application was made and "
    "nothing you typed was stored."
)
ALREADY_PENDING = N_("You have already applied on {date}; it is waiting for review.")
ACCOUNT_EXISTS = N_(
    'The alumni account {account} already exists. If you cannot log in, choose "I forgot '
    'my password" in the menu.'
)
RECEIVED = N_(
    "Your application for an alumni account was received (number {number}). The review "
    "takes about {days} working days; you will be told the decision here and by mail to "
    "{email}. If it is approved, your account will be {account}."
)
MAIL_RECEIVED = N_(
    "Dear {name},\n\nWe received your application for an alumni account of {institution} "
    "(number {number}) on {date}. The review takes about {days} working days; you will be "
    "told the decision by mail and in the chat where you applied.\n\nIf you did not apply, "
    "please tell the alumni centre."
)
NOT_THIS_YEAR = N_(
    "Graduates of this year must not apply: the alumni account is made for you when you "
    "receive your diploma."
)
THIS_YEARS_GRADUATES = N_(
    "Graduates of this year must not apply: your alumni account {account} is made when "
    "you receive your diploma. Two days after that, log in directly; the first password is "
    "your ID number with its letters in upper case. If you graduated in another year, "
    "please type that year; otherwise send /cancel."
)
NOT_HERE = N_("Alumni accounts of {institution} cannot be applied for here.")
TYPE_AGAIN = N_("Please type it again.")


# -- the questions, in the seed's order ----------------------------------------------------


def ask(msgid: str) -> Prompt:
    return lambda ctx: Text(ctx._(msgid))


def _ask_sex(ctx: Context) -> Reply:
    return ctx.choices(
        ctx._("What is your sex, as on your ID card?"),
        [(value, ctx._(label)) for value, label in SEXES.items()],
    )


def _text_reader(field: str, read: Callable[[str], str]) -> Reader:
    async def reader(ctx: Context, answer: Answer) -> Values:
        return {field: read(answer.text or "")}

    return reader


async def _read_sex(ctx: Context, answer: Answer) -> Values:
    if answer.choice not in SEXES:
        raise Refused(CHOOSE)
    return {"sex": answer.choice}


async def _read_id_number(ctx: Context, answer: Answer) -> Values | Step:
    try:
        number = parse_id_number(answer.text or "", today=today(ctx))
    except InvalidIdNumber as exc:
        raise Refused(explain_id_problem(exc)) from None
    id_hash = ctx.services.pii.id_number(number.value)
    pending = await pending_application(ctx.session, id_hash)
    if pending is not None:
        return _already_pending(ctx, pending)
    # Seed 003: the first-login password is the ID number, letters in upper case
    # (英文字母需大寫). Its argon2 hash was made before this step's transaction.
    password_hash = ctx.prepared.get("password_hash")
    if not isinstance(password_hash, str):
        raise Refused(TYPE_AGAIN)
    return {"id_masked": number.masked(), "id_hash": id_hash, "password_hash": password_hash}


async def _read_birthday(ctx: Context, answer: Answer) -> Values:
    try:
        birthday = parse_birthday(answer.text or "", today=today(ctx))
    except InvalidBirthday as exc:
        raise Refused(BIRTHDAY_PROBLEMS[exc.problem]) from None
    return {
        "birthday_shown": f"{birthday.year}-**-**",
        "birthday_hash": ctx.services.pii.birthday(birthday),
    }


async def _read_degree_level(ctx: Context, answer: Answer) -> Values:
    level = ctx.services.profile.degree_level(answer.choice or "")
    if level is None:
        raise Refused(CHOOSE)
    return {"degree_level": level.code}


async def _read_student_id(ctx: Context, answer: Answer) -> Values:
    pattern = ctx.services.profile.accounts.student_id_pattern
    return {"student_id": read_student_id(answer.text or "", pattern)}


async def _read_entry_year(ctx: Context, answer: Answer) -> Values:
    return {"entry_year": read_year(answer.text or "", today=today(ctx))}


async def _read_graduation_year(ctx: Context, answer: Answer) -> Values:
    year = read_year(answer.text or "", today=today(ctx))
    entry = ctx.data.get("entry_year")
    if isinstance(entry, int) and year < entry:
        raise Refused(
            N_("The year of graduation cannot be before the year of entry ({year})."),
            year=entry,
        )
    if year == today(ctx).year:
        # Seed 003: 應屆畢業生請勿申請帳號 (請於領取畢業證書隔2日直接登入).
        account = ctx.services.profile.accounts.alumni_account_for(
            str(ctx.data.get("student_id", ""))
        )
        raise Refused(THIS_YEARS_GRADUATES, account=account or "-")
    return {"graduation_year": year}


def _shown_sex(ctx: Context, value: Any) -> str:
    return ctx._(SEXES.get(str(value), "-"))


def _shown_level(ctx: Context, value: Any) -> str:
    level = ctx.services.profile.degree_level(str(value))
    return level.name.get(ctx.locale) if level is not None else str(value)


def _shown_year(ctx: Context, value: Any) -> str:
    return ctx._("{year} (ROC {roc})", year=int(value), roc=int(value) - ROC_OFFSET)


QUESTIONS: tuple[Question, ...] = (
    Question(
        State.NAME_ZH,
        N_("Chinese name"),
        ask(N_("What is your name in Chinese, as on your ID card (中文姓名)?")),
        _text_reader("name_zh", read_name_zh),
        ("name_zh",),
    ),
    Question(
        State.NAME_EN,
        N_("English name"),
        ask(N_("What is your name in English, as in your passport? For example: Lin Ming-Zhi.")),
        _text_reader("name_en", read_name_en),
        ("name_en",),
    ),
    Question(State.SEX, N_("Sex"), _ask_sex, _read_sex, ("sex",), _shown_sex),
    Question(
        State.ID_NUMBER,
        N_("ID number"),
        ask(ID_NUMBER_QUESTION),
        _read_id_number,
        ("id_masked", "id_hash", "password_hash"),
    ),
    Question(
        State.BIRTHDAY,
        N_("Birthday"),
        ask(BIRTHDAY_QUESTION),
        _read_birthday,
        ("birthday_shown", "birthday_hash"),
    ),
    Question(
        State.DEGREE_LEVEL,
        N_("Degree programme"),
        lambda ctx: degree_levels(ctx, N_("Which degree programme did you graduate from?")),
        _read_degree_level,
        ("degree_level",),
        _shown_level,
    ),
    Question(
        State.DEPARTMENT,
        N_("Department"),
        ask(N_("Which department or graduate institute did you study in?")),
        _text_reader("department", read_department),
        ("department",),
    ),
    Question(
        State.STUDENT_ID,
        N_("Student ID"),
        ask(N_("What was your student ID in that programme?")),
        _read_student_id,
        ("student_id",),
    ),
    Question(
        State.ENTRY_YEAR,
        N_("Year of entry"),
        ask(
            N_(
                "In which year did you enter the programme? For example 2015, or 104 in the "
                "ROC calendar."
            )
        ),
        _read_entry_year,
        ("entry_year",),
        _shown_year,
    ),
    Question(
        State.GRADUATION_YEAR,
        N_("Year of graduation"),
        ask(N_("In which year did you graduate? For example 2019, or 108 in the ROC calendar.")),
        _read_graduation_year,
        ("graduation_year",),
        _shown_year,
    ),
    Question(
        State.MOBILE,
        N_("Mobile"),
        ask(
            N_(
                "What is your mobile phone number? In Taiwan, for example 0912-345-678; "
                "abroad, with + and the country code, for example +81 90-1234-5678."
            )
        ),
        _text_reader("mobile", read_mobile),
        ("mobile",),
        lambda ctx, value: shown_mobile(str(value)),
    ),
    Question(
        State.EMAIL,
        N_("E-mail"),
        ask(N_("What is your e-mail address? The decision will be sent there.")),
        _text_reader("email", read_email),
        ("email",),
    ),
    Question(
        State.ADDRESS,
        N_("Address"),
        ask(N_("What is your postal address?")),
        _text_reader("address", read_address),
        ("address",),
    ),
)
BY_STATE: dict[State, Question] = {question.state: question for question in QUESTIONS}


# -- storage ---------------------------------------------------------------------------------


async def pending_application(
    session: AsyncSession, id_number_hash: str
) -> AlumniApplication | None:
    """The application waiting for review under this ID number, if any."""
    return await session.scalar(
        select(AlumniApplication)
        .where(
            AlumniApplication.id_number_hash == id_number_hash,
            AlumniApplication.status == ApplicationStatus.PENDING,
        )
        .order_by(AlumniApplication.id)
        .limit(1)
    )


async def _lock_id_number(session: AsyncSession, id_number_hash: str) -> None:
    """Serialise submissions under one ID number, so two chats cannot both add one.

    SQLite's write lock (the engine's BEGIN IMMEDIATE) already does; on PostgreSQL a
    transaction-scoped advisory lock keyed by the hash does.
    """
    if session.get_bind().dialect.name == "postgresql":
        key = int(id_number_hash[:15], 16)  # 60 bits: a positive bigint
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _already_pending(ctx: Context, pending: AlumniApplication) -> Step:
    ctx.audit("apply", "already_pending", application=pending.id)
    applied = pending.created_at.astimezone(ctx.services.profile.zone).date()
    return Step.done(Text(ctx._(ALREADY_PENDING, date=applied.isoformat())))


# -- the flow --------------------------------------------------------------------------------


@register
class AlumniApplicationFlow(Flow):
    """Apply for an alumni account (seed 003)."""

    name = "alumni_account"
    title = N_("Apply for an alumni account")
    order = 60
    states = State

    async def start(self, ctx: Context) -> Step:
        if ctx.identity.person_id is not None:
            return Step.done(
                Text(
                    ctx._(
                        "This chat is already linked to an account, so you do not need to "
                        'apply. If you cannot log in, choose "I forgot my password".'
                    )
                )
            )
        if ctx.services.profile.accounts.alumni_account is None:
            return Step.done(Text(ctx._(NOT_HERE, institution=self._institution(ctx))))
        return Step.goto(State.NAME_ZH, Text(ctx._(INTRO)), Text(ctx._(NOT_THIS_YEAR)))

    async def prepare(self, services: Services, state: str, text: str) -> dict[str, Any]:
        """The first-login password's argon2 hash, made before any lock is taken."""
        if state != State.ID_NUMBER:
            return {}
        zone_today = services.clock.now().astimezone(services.profile.zone).date()
        try:
            number = parse_id_number(text, today=zone_today)
        except InvalidIdNumber:
            return {}
        return {"password_hash": await services.passwords.hash(number.value.upper())}

    def _institution(self, ctx: Context) -> str:
        return ctx.services.profile.display_name.get(ctx.locale)

    async def prompt(self, ctx: Context, state: str) -> list[Reply]:
        current = State(state)
        if current in BY_STATE:
            return [BY_STATE[current].prompt(ctx)]
        if current is State.CONSENT:
            return [
                Text(ctx._(NOTICE, institution=self._institution(ctx))),
                ctx.choices(
                    ctx._("Do you agree to the personal data notice?"),
                    [("agree", ctx._("I agree")), ("decline", ctx._("I do not agree"))],
                ),
            ]
        if current is State.REVIEW:
            return [
                Text(self._summary(ctx)),
                ctx.choices(
                    ctx._("Submit the application, or correct a field first?"),
                    [("submit", ctx._("Submit")), ("correct", ctx._("Correct a field"))],
                ),
            ]
        options = [(q.state.value, ctx._(q.label)) for q in QUESTIONS]
        options.append(("back", ctx._("Back to the summary")))
        return [ctx.choices(ctx._("Which field do you want to correct?"), options)]

    def _summary(self, ctx: Context) -> str:
        lines = [ctx._("Please check your application:")]
        for question in QUESTIONS:
            value = ctx.data.get(question.keys[0])
            shown = "-" if value is None else question.shown(ctx, value)
            lines.append(ctx._("{label}: {value}", label=ctx._(question.label), value=shown))
        return "\n".join(lines)

    async def handle(self, ctx: Context, state: str, answer: Answer) -> Step:
        current = State(state)
        if current is State.CONSENT:
            return self._consent(ctx, answer)
        if current is State.REVIEW:
            if answer.choice == "submit":
                return await self._submit(ctx)
            if answer.choice == "correct":
                return Step.goto(State.CORRECT)
            return Step.goto(State.REVIEW, Text(ctx._(CHOOSE)))
        if current is State.CORRECT:
            if answer.choice == "back":
                ctx.data.pop("correcting", None)
                return Step.goto(State.REVIEW)
            if answer.choice in {q.state.value for q in QUESTIONS}:
                ctx.data["correcting"] = True
                return Step.goto(State(answer.choice))
            return Step.goto(State.CORRECT, Text(ctx._(CHOOSE)))
        try:
            read = await BY_STATE[current].read(ctx, answer)
        except Refused as refused:
            # The explanation and the same question again; nothing kept changes.
            params = {"institution": self._institution(ctx), **refused.params}
            return Step.goto(current, Text(ctx._(refused.msgid, **params)))
        if isinstance(read, Step):
            return read
        ctx.data.update(read)
        graduated = ctx.data.get("graduation_year")
        if (
            current is State.ENTRY_YEAR
            and isinstance(graduated, int)
            and graduated < read["entry_year"]
        ):
            # Corrected to after the year of graduation: ask that year again too.
            del ctx.data["graduation_year"]
            return Step.goto(
                State.GRADUATION_YEAR,
                Text(
                    ctx._(
                        "The year of graduation you gave ({year}) is before this year of "
                        "entry, so please type it again.",
                        year=graduated,
                    )
                ),
            )
        return Step.goto(self._after(ctx, current))

    def _after(self, ctx: Context, field: State) -> State:
        if ctx.data.pop("correcting", False):
            return State.REVIEW
        position = QUESTIONS.index(BY_STATE[field])
        return QUESTIONS[position + 1].state if position + 1 < len(QUESTIONS) else State.CONSENT

    def _consent(self, ctx: Context, answer: Answer) -> Step:
        if answer.choice == "agree":
            ctx.data["consent_at"] = ctx.services.clock.now().isoformat()
            return Step.goto(State.REVIEW)
        if answer.choice == "decline":
            # Nothing was stored before this point; the conversation's data is dropped now.
            return Step.done(Text(ctx._(DECLINED)))
        return Step.goto(State.CONSENT, Text(ctx._(CHOOSE)))

    # -- submitting --------------------------------------------------------------------

    async def _submit(self, ctx: Context) -> Step:
        data = ctx.data
        missing = next((q for q in QUESTIONS if any(k not in data for k in q.keys)), None)
        if missing is not None:
            data["correcting"] = True
            return Step.goto(missing.state)
        if "consent_at" not in data:
            return Step.goto(State.CONSENT)
        services = ctx.services
        profile = services.profile
        now = services.clock.now()
        id_hash = str(data["id_hash"])
        await _lock_id_number(ctx.session, id_hash)
        pending = await pending_application(ctx.session, id_hash)
        if pending is not None:
            return _already_pending(ctx, pending)
        student_id = str(data["student_id"])
        account = profile.accounts.alumni_account_for(student_id)
        if account is None:
            return Step.done(Text(ctx._(NOT_HERE, institution=self._institution(ctx))))
        if await username_taken(ctx.session, account):
            ctx.audit("apply", "account_exists")
            return Step.done(
                Text(
                    sentences(
                        ctx,
                        ctx._(ACCOUNT_EXISTS, account=account),
                        contact_text(ctx, "alumni_centre"),
                    )
                )
            )

        application = AlumniApplication(
            channel=ctx.incoming.channel,
            chat_id=ctx.incoming.chat_id,
            locale=ctx.locale,
            name_zh=data["name_zh"],
            name_en=data["name_en"],
            sex=data["sex"],
            id_number_hash=id_hash,
            id_number_masked=data["id_masked"],
            birthday_hash=data["birthday_hash"],
            default_password_hash=data["password_hash"],
            degree_level=data["degree_level"],
            department=data["department"],
            student_id=student_id,
            entry_year=int(data["entry_year"]),
            graduation_year=int(data["graduation_year"]),
            mobile=data["mobile"],
            email=data["email"],
            address=data["address"],
            consent_at=dt.datetime.fromisoformat(str(data["consent_at"])),
            status=ApplicationStatus.PENDING,
            created_at=now,
        )
        ctx.session.add(application)
        await ctx.session.flush()
        ctx.audit("apply", "pending", application=application.id)
        institution = self._institution(ctx)
        enqueue(
            ctx.session,
            to=application.email,
            subject=ctx._(MAIL_SUBJECT, institution=institution),
            body=ctx._(
                MAIL_RECEIVED,
                name=application.name_zh if ctx.locale == "zh_TW" else application.name_en,
                institution=institution,
                number=application.id,
                date=now.astimezone(profile.zone).date().isoformat(),
                days=REVIEW_WORKING_DAYS,
            )
            + "\n\n"
            + contact_text(ctx, "alumni_centre"),
            now=now,
        )
        return Step.done(
            Text(
                ctx._(
                    RECEIVED,
                    number=application.id,
                    days=REVIEW_WORKING_DAYS,
                    email=application.email,
                    account=account,
                )
            )
        )
