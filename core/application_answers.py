"""Reading what an applicant types into a form (seed 003): names, department, student ID,
year, mobile (in Taiwan or abroad, with phonenumbers), e-mail, postal address.

Each reader takes the raw text and returns the value to keep, or raises ``Refused``
with the catalog msgid that tells the applicant what to fix.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import phonenumbers

from core.errors import UserFacingError
from core.i18n import N_
from core.text import normalise
from core.years import EARLIEST_YEAR, InvalidYear, YearProblem, parse_year

# Lengths a person's answer can sensibly have; the model's columns are at least this long.
MAX_NAME_ZH = 30
MAX_NAME_EN = 100
MAX_DEPARTMENT = 100
MAX_ADDRESS = 300
MAX_EMAIL = 254
MIN_ADDRESS = 6
# Anything longer than this is refused before any normalisation runs over it.
MAX_RAW = 1000


class Refused(UserFacingError):
    """An answer that cannot be used; ``msgid`` tells the applicant why."""


def plain(text: str) -> str:
    """Normalised (full-width folded, invisible marks dropped), whitespace collapsed."""
    return " ".join(normalise(text).split())


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
    try:
        return parse_year(raw, latest=today.year, earliest=EARLIEST_YEAR)
    except InvalidYear as exc:
        if exc.problem is YearProblem.EMPTY:
            raise Refused(N_("Please type the year.")) from None
        if exc.problem is YearProblem.TOO_EARLY:
            raise Refused(
                N_("That year is before {earliest}. Please check it."), earliest=EARLIEST_YEAR
            ) from None
        if exc.problem is YearProblem.TOO_LATE:
            raise Refused(N_("That year is in the future.")) from None
        raise Refused(YEAR_FORMAT) from None


MOBILE_FORMAT = N_(
    "Please type a mobile number: in Taiwan 10 digits starting with 09, for example "
    "0912-345-678; abroad with + and the country code, for example +81 90-1234-5678."
)
MOBILE_TYPES = frozenset(
    {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    }
)


def read_mobile(raw: str) -> str:
    """A mobile number, in Taiwan (seed 003's 國內) or abroad (海外).

    A Taiwan number is kept as 09xxxxxxxx, from 0912-345-678, +886 912 345 678 and the
    like; one abroad in E.164 (+819012345678), from + or an international prefix (00,
    Taiwan's 002) and the country code.
    """
    if len(raw) > MAX_RAW:
        raise Refused(MOBILE_FORMAT)
    value = re.sub(r"[\s\-().]", "", plain(raw))
    if not value:
        raise Refused(N_("Please type your mobile phone number."))
    if len(value) > 20 or not re.fullmatch(r"\+?[0-9]+", value):
        raise Refused(MOBILE_FORMAT)
    if value.startswith("886") and len(value) > 11:
        value = "+" + value  # typed without its +
    try:
        number = phonenumbers.parse(value, "TW")
    except phonenumbers.NumberParseException:
        raise Refused(MOBILE_FORMAT) from None
    if not phonenumbers.is_valid_number(number):
        raise Refused(MOBILE_FORMAT)
    if phonenumbers.region_code_for_number(number) == "TW":
        national = f"0{number.national_number}"
        if not re.fullmatch(r"09[0-9]{8}", national):
            raise Refused(MOBILE_FORMAT)
        return national
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise Refused(MOBILE_FORMAT)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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
    """0912-345-678 for a Taiwan number, +81 90-1234-5678 for one abroad."""
    if mobile.startswith("+"):
        return phonenumbers.format_number(
            phonenumbers.parse(mobile), phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
    return f"{mobile[:4]}-{mobile[4:7]}-{mobile[7:]}"
