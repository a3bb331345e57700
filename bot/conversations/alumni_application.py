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
masked forms, and the first-login password only as its argon2 hash.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversations.student_id import BIRTHDAY_PROBLEMS, explain_id_problem
from bot.flow import Answer, Context, Flow, Step, register
from bot.types import Reply, Text
from core import audit
from core.birthdays import ROC_OFFSET, InvalidBirthday, parse_birthday
from core.i18n import N_
from core.idnumbers import InvalidIdNumber, parse_id_number
from core.mail import enqueue
from core.models import Account, AlumniApplication, ApplicationStatus


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


# The questions of the form, in the seed's order; each can be corrected from the review.
FIELDS: tuple[State, ...] = (
    State.NAME_ZH,
    State.NAME_EN,
    State.SEX,
    State.ID_NUMBER,
    State.BIRTHDAY,
    State.DEGREE_LEVEL,
    State.DEPARTMENT,
    State.STUDENT_ID,
    State.ENTRY_YEAR,
    State.GRADUATION_YEAR,
    State.MOBILE,
    State.EMAIL,
    State.ADDRESS,
)

# What each field keeps in the conversation; the first key is the one the review shows.
KEYS: dict[State, tuple[str, ...]] = {
    State.NAME_ZH: ("name_zh",),
    State.NAME_EN: ("name_en",),
    State.SEX: ("sex",),
    State.ID_NUMBER: ("id_masked", "id_hash", "password_hash"),
    State.BIRTHDAY: ("birthday_shown", "birthday_hash"),
    State.DEGREE_LEVEL: ("degree_level",),
    State.DEPARTMENT: ("department",),
    State.STUDENT_ID: ("student_id",),
    State.ENTRY_YEAR: ("entry_year",),
    State.GRADUATION_YEAR: ("graduation_year",),
    State.MOBILE: ("mobile",),
    State.EMAIL: ("email",),
    State.ADDRESS: ("address",),
}

LABELS: dict[State, str] = {
    State.NAME_ZH: N_("Chinese name"),
    State.NAME_EN: N_("English name"),
    State.SEX: N_("Sex"),
    State.ID_NUMBER: N_("ID number"),
    State.BIRTHDAY: N_("Birthday"),
    State.DEGREE_LEVEL: N_("Degree programme"),
    State.DEPARTMENT: N_("Department"),
    State.STUDENT_ID: N_("Student ID"),
    State.ENTRY_YEAR: N_("Year of entry"),
    State.GRADUATION_YEAR: N_("Year of graduation"),
    State.MOBILE: N_("Mobile"),
    State.EMAIL: N_("E-mail"),
    State.ADDRESS: N_("Address"),
}

QUESTIONS: dict[State, str] = {
    State.NAME_ZH: N_("What is your name in Chinese, as on your ID card (中文姓名)?"),
    State.NAME_EN: N_(
        "What is your name in English, as in your passport? For example: Lin Ming-Zhi."
    ),
    State.ID_NUMBER: N_(
        "Please type your national ID number (身分證字號), or your resident certificate "
        "number (居留證號) if you hold one."
    ),
    State.BIRTHDAY: N_(
        "Please type your birthday, for example 1996-01-02, or in the ROC calendar 85/01/02."
    ),
    State.DEPARTMENT: N_("Which department or graduate institute did you study in?"),
    State.STUDENT_ID: N_("What was your student ID in that programme?"),
    State.ENTRY_YEAR: N_(
        "In which year did you enter the programme? For example 2015, or 104 in the ROC calendar."
    ),
    State.GRADUATION_YEAR: N_(
        "In which year did you graduate? For example 2019, or 108 in the ROC calendar."
    ),
    State.MOBILE: N_("What is your mobile phone number? For example 0912-345-678."),
    State.EMAIL: N_("What is your e-mail address? The decision will be sent there."),
    State.ADDRESS: N_("What is your postal address?"),
}

SEXES: dict[str, str] = {"male": N_("Male"), "female": N_("Female")}  # seed 003: 男, 女

# Seed 003: 需要7個工作日審查.
REVIEW_WORKING_DAYS = 7

# Seed 003's alumni go back to the university's first graduates after 1945; a year
# before that is a typo.
EARLIEST_YEAR = 1945

# Lengths a person's answer can sensibly have; the model's columns are at least this long.
MAX_NAME_ZH = 30
MAX_NAME_EN = 100
MAX_DEPARTMENT = 100
MAX_ADDRESS = 300
MAX_EMAIL = 254
MIN_ADDRESS = 6
# Anything longer than this is refused before any normalisation runs over it.
MAX_RAW = 1000

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
    'my password" in the menu, or contact the alumni centre.'
)
RECEIVED = N_(
    "Your application for an alumni account was received (number {number}). The review "
    "takes about {days} working days; you will be told the decision here and by mail to "
    "{email}. If it is approved, your account will be {account}."
)
MAIL_SUBJECT = N_("{institution}: your application for an alumni account")
MAIL_RECEIVED = N_(
    "Dear {name},\n\nWe received your application for an alumni account of {institution} "
    "(number {number}) on {date}. The review takes about {days} working days; you will be "
    "told the decision by mail and in the chat where you applied.\n\nIf you did not apply, "
    "please tell the alumni centre."
)
CHOOSE = N_("Please choose one of the options.")


class Refused(Exception):
    """An answer that cannot be used; ``msgid`` tells the user why."""

    def __init__(self, msgid: str, **params: Any) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.params = params


def plain(text: str) -> str:
    """Full-width forms folded, invisible format characters dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(text.split())


def _is_han(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("CJK UNIFIED", "CJK COMPATIBILITY IDEOGRAPH"))


def _is_latin(ch: str) -> bool:
    return ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN")


# Emoji and pictographs (So), their modifiers (Sk), control, private-use, surrogate and
# unassigned characters. Maths and currency signs (Sm, Sc) appear in real addresses.
_SYMBOLS = frozenset({"So", "Sk", "Cc", "Co", "Cs", "Cn"})


def _has_symbols(value: str) -> bool:
    return any(unicodedata.category(ch) in _SYMBOLS for ch in value)


def _field_text(
    raw: str, *, empty: str, maximum: int, symbols: str = N_("Please do not use emoji or symbols.")
) -> str:
    """Checks every free-text answer shares: not empty, not too long, no emoji or symbols."""
    if len(raw) > MAX_RAW:
        raise Refused(N_("That is too long: at most {maximum} characters."), maximum=maximum)
    value = plain(raw)
    if not value:
        raise Refused(empty)
    if len(value) > maximum:
        raise Refused(N_("That is too long: at most {maximum} characters."), maximum=maximum)
    if _has_symbols(value):
        raise Refused(symbols)
    return value


NAME_ZH_CHARACTERS = N_(
    "Please type your name in Chinese characters, as on your ID card; for a transliterated "
    "name put · between its parts."
)
NAME_EN_CHARACTERS = N_(
    "An English name has Latin letters, spaces, hyphens and apostrophes only, as in your "
    "passport, for example Lin Ming-Zhi."
)


def read_name_zh(raw: str) -> str:
    value = _field_text(
        raw,
        empty=N_("Please type your name in Chinese."),
        maximum=MAX_NAME_ZH,
        symbols=NAME_ZH_CHARACTERS,
    )
    # Seed 003's 中文姓名: Han characters; · (and its look-alikes) joins transliterated parts.
    value = re.sub(r"\s*[·‧・•]\s*", "·", value)
    allowed = all(_is_han(ch) or _is_latin(ch) or ch in "· " for ch in value)
    if not allowed or not any(_is_han(ch) for ch in value):
        raise Refused(NAME_ZH_CHARACTERS)
    return value


def read_name_en(raw: str) -> str:
    value = _field_text(
        raw,
        empty=N_("Please type your name in English."),
        maximum=MAX_NAME_EN,
        symbols=NAME_EN_CHARACTERS,
    )
    value = value.replace("’", "'").replace("‘", "'")
    if not all(_is_latin(ch) or ch in " -'.," for ch in value) or not any(
        ch.isalpha() for ch in value
    ):
        raise Refused(NAME_EN_CHARACTERS)
    return value


def read_department(raw: str) -> str:
    value = _field_text(
        raw, empty=N_("Please type the department or graduate institute."), maximum=MAX_DEPARTMENT
    )
    if not any(ch.isalpha() for ch in value):
        raise Refused(N_("Please type the name of the department, for example 資訊工程學系."))
    return value


def read_student_id(raw: str, pattern: str) -> str:
    if len(raw) > MAX_RAW:
        raise Refused(N_("That is far longer than a student ID."))
    value = re.sub(r"[\s\-]", "", plain(raw))
    if not value:
        raise Refused(N_("Please type your student ID."))
    for candidate in (value.upper(), value):
        if len(candidate) <= 32 and re.fullmatch(pattern, candidate):
            return candidate
    raise Refused(
        N_(
            "That does not look like a student ID of {institution}. Please type it as it "
            "was on your student card."
        )
    )


YEAR_FORMAT = N_("Please type a year, for example 2015, or 104 in the ROC calendar.")


def read_year(raw: str, *, today: dt.date) -> int:
    """A Gregorian year from a Gregorian (4-digit) or ROC (2-3 digit, 民國) year."""
    if len(raw) > MAX_RAW:
        raise Refused(YEAR_FORMAT)
    value = plain(raw).replace(" ", "")
    if not value:
        raise Refused(N_("Please type the year."))
    era = None
    for prefix in ("民國", "西元"):
        if value.startswith(prefix):
            era, value = prefix, value.removeprefix(prefix)
    value = value.removesuffix("年")
    if not (value.isascii() and value.isdigit()) or not 2 <= len(value) <= 4:
        raise Refused(YEAR_FORMAT)
    is_roc = len(value) < 4
    if era is not None and is_roc != (era == "民國"):
        raise Refused(YEAR_FORMAT)
    year = int(value) + (ROC_OFFSET if is_roc else 0)
    if year < EARLIEST_YEAR:
        raise Refused(
            N_("That year is before {earliest}. Please check it."), earliest=EARLIEST_YEAR
        )
    if year > today.year:
        raise Refused(N_("That year is in the future."))
    return year


MOBILE_FORMAT = N_(
    "Please type a Taiwan mobile number: 10 digits starting with 09, for example "
    "0912-345-678 or +886 912 345 678."
)


def read_mobile(raw: str) -> str:
    """A Taiwan mobile number as 09xxxxxxxx, from 0912-345-678, +886 912 345 678 and the like."""
    if len(raw) > MAX_RAW:
        raise Refused(MOBILE_FORMAT)
    value = re.sub(r"[\s\-().]", "", plain(raw))
    if not value:
        raise Refused(N_("Please type your mobile phone number."))
    for prefix in ("+886", "00886", "886"):
        if value.startswith(prefix) and len(value) > 11:
            value = "0" + value.removeprefix(prefix).removeprefix("0")
            break
    if not re.fullmatch(r"09[0-9]{8}", value):
        raise Refused(MOBILE_FORMAT)
    return value


_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def read_email(raw: str) -> str:
    if len(raw) > MAX_RAW:
        raise Refused(N_("That is too long: at most {maximum} characters."), maximum=MAX_EMAIL)
    value = plain(raw)
    if not value:
        raise Refused(N_("Please type your e-mail address."))
    if len(value) > MAX_EMAIL or not _EMAIL.fullmatch(value):
        raise Refused(N_("That is not an e-mail address. Please type one like name@example.com."))
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def read_address(raw: str) -> str:
    value = _field_text(raw, empty=N_("Please type your postal address."), maximum=MAX_ADDRESS)
    if len(value) < MIN_ADDRESS or not any(ch.isalpha() for ch in value):
        raise Refused(
            N_(
                "That does not look like a full address. Please type the whole postal "
                "address, with the city, the street and the number."
            )
        )
    return value


def shown_mobile(mobile: str) -> str:
    return f"{mobile[:4]}-{mobile[4:7]}-{mobile[7:]}"


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


@register
class AlumniApplicationFlow(Flow):
    """Apply for an alumni account (seed 003)."""

    name = "alumni_account"
    title = N_("Apply for an alumni account")
    order = 60

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
            return Step.done(
                Text(
                    ctx._(
                        "Alumni accounts of {institution} cannot be applied for here.",
                        institution=self._institution(ctx),
                    )
                )
            )
        return Step.goto(State.NAME_ZH, Text(ctx._(INTRO)))

    def _institution(self, ctx: Context) -> str:
        return ctx.services.profile.display_name.get(ctx.locale)

    def _today(self, ctx: Context) -> dt.date:
        return ctx.services.clock.now().astimezone(ctx.services.profile.zone).date()

    # -- questions ---------------------------------------------------------------------

    async def prompt(self, ctx: Context, state: str) -> list[Reply]:
        current = State(state)
        if current in QUESTIONS:
            return [Text(ctx._(QUESTIONS[current]))]
        match current:
            case State.SEX:
                return [
                    ctx.choices(
                        ctx._("What is your sex, as on your ID card?"),
                        [(value, ctx._(label)) for value, label in SEXES.items()],
                    )
                ]
            case State.DEGREE_LEVEL:
                levels = ctx.services.profile.degree_levels
                return [
                    ctx.choices(
                        ctx._("Which degree programme did you graduate from?"),
                        [(level.code, level.name.get(ctx.locale)) for level in levels],
                    )
                ]
            case State.CONSENT:
                return [
                    Text(ctx._(NOTICE, institution=self._institution(ctx))),
                    ctx.choices(
                        ctx._("Do you agree to the personal data notice?"),
                        [("agree", ctx._("I agree")), ("decline", ctx._("I do not agree"))],
                    ),
                ]
            case State.REVIEW:
                return [
                    Text(self._summary(ctx)),
                    ctx.choices(
                        ctx._("Submit the application, or correct a field first?"),
                        [("submit", ctx._("Submit")), ("correct", ctx._("Correct a field"))],
                    ),
                ]
            case _:
                options = [(field.value, ctx._(LABELS[field])) for field in FIELDS]
                options.append(("back", ctx._("Back to the summary")))
                return [ctx.choices(ctx._("Which field do you want to correct?"), options)]

    def _shown(self, ctx: Context, field: State) -> str:
        value = ctx.data.get(KEYS[field][0])
        if value is None:
            return "-"
        match field:
            case State.SEX:
                return ctx._(SEXES.get(str(value), "-"))
            case State.DEGREE_LEVEL:
                level = ctx.services.profile.degree_level(str(value))
                return level.name.get(ctx.locale) if level is not None else str(value)
            case State.ENTRY_YEAR | State.GRADUATION_YEAR:
                year = int(value)
                return ctx._("{year} (ROC {roc})", year=year, roc=year - ROC_OFFSET)
            case State.MOBILE:
                return shown_mobile(str(value))
            case _:
                return str(value)

    def _summary(self, ctx: Context) -> str:
        lines = [ctx._("Please check your application:")]
        lines += [
            ctx._("{label}: {value}", label=ctx._(LABELS[field]), value=self._shown(ctx, field))
            for field in FIELDS
        ]
        return "\n".join(lines)

    # -- answers -----------------------------------------------------------------------

    async def handle(self, ctx: Context, state: str, answer: Answer) -> Step:
        current = State(state)
        match current:
            case State.CONSENT:
                return self._consent(ctx, answer)
            case State.REVIEW:
                if answer.choice == "submit":
                    return await self._submit(ctx)
                if answer.choice == "correct":
                    return Step.goto(State.CORRECT)
                return Step.goto(State.REVIEW, Text(ctx._(CHOOSE)))
            case State.CORRECT:
                if answer.choice == "back":
                    ctx.data.pop("correcting", None)
                    return Step.goto(State.REVIEW)
                if answer.choice in {field.value for field in FIELDS}:
                    ctx.data["correcting"] = True
                    return Step.goto(State(answer.choice))
                return Step.goto(State.CORRECT, Text(ctx._(CHOOSE)))
        try:
            read = await self._read(ctx, current, answer)
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
        position = FIELDS.index(field)
        return FIELDS[position + 1] if position + 1 < len(FIELDS) else State.CONSENT

    async def _read(self, ctx: Context, field: State, answer: Answer) -> dict[str, Any] | Step:
        """The values one answer gives, or ``Refused``; a Step when the flow must end."""
        raw = answer.text or ""
        profile = ctx.services.profile
        match field:
            case State.NAME_ZH:
                return {"name_zh": read_name_zh(raw)}
            case State.NAME_EN:
                return {"name_en": read_name_en(raw)}
            case State.SEX:
                if answer.choice not in SEXES:
                    raise Refused(CHOOSE)
                return {"sex": answer.choice}
            case State.ID_NUMBER:
                return await self._read_id_number(ctx, raw)
            case State.BIRTHDAY:
                try:
                    birthday = parse_birthday(raw, today=self._today(ctx))
                except InvalidBirthday as exc:
                    raise Refused(BIRTHDAY_PROBLEMS[exc.problem]) from None
                return {
                    "birthday_shown": f"{birthday.year}-**-**",
                    "birthday_hash": ctx.services.pii.birthday(birthday),
                }
            case State.DEGREE_LEVEL:
                level = profile.degree_level(answer.choice or "")
                if level is None:
                    raise Refused(CHOOSE)
                return {"degree_level": level.code}
            case State.DEPARTMENT:
                return {"department": read_department(raw)}
            case State.STUDENT_ID:
                return {"student_id": read_student_id(raw, profile.accounts.student_id_pattern)}
            case State.ENTRY_YEAR:
                return {"entry_year": read_year(raw, today=self._today(ctx))}
            case State.GRADUATION_YEAR:
                year = read_year(raw, today=self._today(ctx))
                entry = ctx.data.get("entry_year")
                if isinstance(entry, int) and year < entry:
                    raise Refused(
                        N_("The year of graduation cannot be before the year of entry ({year})."),
                        year=entry,
                    )
                return {"graduation_year": year}
            case State.MOBILE:
                return {"mobile": read_mobile(raw)}
            case State.EMAIL:
                return {"email": read_email(raw)}
            case _:
                return {"address": read_address(raw)}

    async def _read_id_number(self, ctx: Context, raw: str) -> dict[str, Any] | Step:
        try:
            number = parse_id_number(raw, today=self._today(ctx))
        except InvalidIdNumber as exc:
            raise Refused(explain_id_problem(exc)) from None
        id_hash = ctx.services.pii.id_number(number.value)
        pending = await pending_application(ctx.session, id_hash)
        if pending is not None:
            return self._already_pending(ctx, pending)
        # Seed 003: the first-login password is the ID number, letters in upper case
        # (英文字母需大寫). Only its hash is kept, never the number itself.
        return {
            "id_masked": number.masked(),
            "id_hash": id_hash,
            "password_hash": await ctx.services.passwords.hash(number.value.upper()),
        }

    def _already_pending(self, ctx: Context, pending: AlumniApplication) -> Step:
        self._audit(ctx, "apply", "already_pending", application=pending.id)
        applied = pending.created_at.astimezone(ctx.services.profile.zone).date()
        return Step.done(Text(ctx._(ALREADY_PENDING, date=applied.isoformat())))

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
        missing = next((f for f in FIELDS if any(k not in data for k in KEYS[f])), None)
        if missing is not None:
            data["correcting"] = True
            return Step.goto(missing)
        if "consent_at" not in data:
            return Step.goto(State.CONSENT)
        services = ctx.services
        profile = services.profile
        now = services.clock.now()
        id_hash = str(data["id_hash"])
        await _lock_id_number(ctx.session, id_hash)
        pending = await pending_application(ctx.session, id_hash)
        if pending is not None:
            return self._already_pending(ctx, pending)
        student_id = str(data["student_id"])
        account = profile.accounts.alumni_account_for(student_id)
        if account is None:
            return Step.done(
                Text(
                    ctx._(
                        "Alumni accounts of {institution} cannot be applied for here.",
                        institution=self._institution(ctx),
                    )
                )
            )
        if await ctx.session.scalar(select(Account.id).where(Account.username == account)):
            self._audit(ctx, "apply", "account_exists")
            return Step.done(Text(ctx._(ACCOUNT_EXISTS, account=account)))

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
        self._audit(ctx, "apply", "pending", application=application.id)
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
            ),
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

    def _audit(self, ctx: Context, action: str, outcome: str, **detail: Any) -> None:
        audit.record(
            ctx.session,
            at=ctx.services.clock.now(),
            channel=ctx.incoming.channel,
            actor=ctx.actor,
            flow=self.name,
            action=action,
            outcome=outcome,
            **detail,
        )
