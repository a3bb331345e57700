"""The password policy: a profile's rules, and which of them a new password breaks.

Pure and synchronous; the password is never logged, kept or put in an exception.
Reuse needs argon2 verification, so the account service checks it, not this module.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from core.i18n import N_
from core.localized import LocalizedText, Strict
from core.password_words import contains_personal, is_common, strength

# The seeds' policy dates are Taiwanese calendar dates (seed 000: 公告日 2020/10/14).
TAIPEI = ZoneInfo("Asia/Taipei")

CharClass = Literal["upper", "lower", "letter", "digit", "special"]
CHAR_CLASSES: tuple[CharClass, ...] = ("upper", "lower", "letter", "digit", "special")
# The four classes "k of 4" counts (seed 003); "letter" (upper or lower, seed 001's
# 英數字) is only ever required, never counted.
COUNTED_CLASSES: tuple[CharClass, ...] = ("upper", "lower", "digit", "special")


class PasswordPolicy(Strict):
    """One institution's rules for a new password, as its profile states them."""

    min_length: int = Field(ge=1, le=128)
    max_length: int = Field(default=128, ge=8, le=1024)
    required_classes: list[CharClass] = Field(default_factory=list)
    min_classes: int = Field(default=0, ge=0, le=4)
    not_special: str = Field(default="", description="Characters that do not count as special.")
    special_characters: str | None = Field(
        default=None,
        min_length=1,
        description="When set, only these count as special (seed 003: ! $ # %).",
    )
    history: int = Field(default=0, ge=0, le=24, description="Not equal to the last N passwords.")
    max_age_days: int | None = Field(default=None, ge=1)
    changed_before_must_change: dt.date | None = None
    zxcvbn_min_score: int = Field(default=0, ge=0, le=4)
    forbid_personal_data: bool = True
    force_change_default: bool = True
    summary: LocalizedText

    @model_validator(mode="after")
    def _bounds_consistent(self) -> PasswordPolicy:
        if self.max_length < self.min_length:
            raise ValueError("max_length is below min_length")
        if len(self.required_classes) > len(set(self.required_classes)):
            raise ValueError("required_classes lists a class twice")
        if self.special_characters is not None:
            if any(ch.isalnum() or ch.isspace() for ch in self.special_characters):
                raise ValueError("special_characters lists a letter, digit or space")
            if set(self.special_characters) & set(self.not_special):
                raise ValueError("a character is both in special_characters and not_special")
        return self


class Violation(StrEnum):
    """Why a password is refused, or why the account must change it."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    MISSING_UPPER = "missing_upper"
    MISSING_LOWER = "missing_lower"
    MISSING_LETTER = "missing_letter"
    MISSING_DIGIT = "missing_digit"
    MISSING_SPECIAL = "missing_special"
    TOO_FEW_CLASSES = "too_few_classes"
    TOO_COMMON = "too_common"
    TOO_WEAK = "too_weak"
    CONTAINS_PERSONAL = "contains_personal"
    REUSED = "reused"
    EXPIRED = "expired"
    MUST_CHANGE = "must_change"


# (code, variant) -> (checklist label, the sentence shown when the rule is broken);
# both msgids take the same placeholders.
_TEXTS: dict[tuple[Violation, str], tuple[str, str]] = {
    (Violation.TOO_SHORT, ""): (
        N_("At least {min} characters"),
        N_("The password is too short: it needs at least {min} characters."),
    ),
    (Violation.TOO_LONG, ""): (
        N_("At most {max} characters"),
        N_("The password is too long: it may have at most {max} characters."),
    ),
    (Violation.MISSING_UPPER, ""): (
        N_("An upper-case letter (A-Z)"),
        N_("Add an upper-case letter (A-Z)."),
    ),
    (Violation.MISSING_LOWER, ""): (
        N_("A lower-case letter (a-z)"),
        N_("Add a lower-case letter (a-z)."),
    ),
    (Violation.MISSING_LETTER, ""): (N_("A letter (A-Z or a-z)"), N_("Add a letter (A-Z or a-z).")),
    (Violation.MISSING_DIGIT, ""): (N_("A digit (0-9)"), N_("Add a digit (0-9).")),
    (Violation.MISSING_SPECIAL, "plain"): (
        N_("A special symbol, such as ! # @"),
        N_("Add a special symbol, such as ! # @."),
    ),
    (Violation.MISSING_SPECIAL, "only"): (
        N_("A special symbol: one of {symbols}"),
        N_("Add a special symbol: one of {symbols}."),
    ),
    (Violation.MISSING_SPECIAL, "except"): (
        N_("A special symbol ({excluded} does not count)"),
        N_("Add a special symbol ({excluded} does not count)."),
    ),
    (Violation.TOO_FEW_CLASSES, "plain"): (
        N_("At least {min} of these 4: upper-case letters, lower-case letters, digits, symbols"),
        N_(
            "Use at least {min} of these 4: upper-case letters, lower-case letters, digits,"
            " symbols."
        ),
    ),
    (Violation.TOO_FEW_CLASSES, "only"): (
        N_(
            "At least {min} of these 4: upper-case letters, lower-case letters, digits,"
            " symbols ({symbols})"
        ),
        N_(
            "Use at least {min} of these 4: upper-case letters, lower-case letters, digits,"
            " symbols ({symbols})."
        ),
    ),
    (Violation.TOO_FEW_CLASSES, "except"): (
        N_(
            "At least {min} of these 4: upper-case letters, lower-case letters, digits,"
            " symbols ({excluded} does not count)"
        ),
        N_(
            "Use at least {min} of these 4: upper-case letters, lower-case letters, digits,"
            " symbols ({excluded} does not count)."
        ),
    ),
    (Violation.TOO_COMMON, ""): (
        N_("Not a common or leaked password"),
        N_("This password is on a list of common or leaked passwords; choose another."),
    ),
    (Violation.TOO_WEAK, ""): (
        N_("Hard to guess (strength at least {score} of 4)"),
        N_(
            "This password is too easy to guess (strength below {score} of 4);"
            " several unrelated words make a stronger one."
        ),
    ),
    (Violation.CONTAINS_PERSONAL, ""): (
        N_("Does not contain your account name, student ID or name"),
        N_("The password contains your account name, student ID or name."),
    ),
    (Violation.REUSED, "one"): (
        N_("Not your previous password"),
        N_("This is your previous password; choose a new one."),
    ),
    (Violation.REUSED, "many"): (
        N_("Not one of your last {n} passwords"),
        N_("This is one of your last {n} passwords; choose a new one."),
    ),
    (Violation.EXPIRED, ""): (
        N_("Changed within the last {days} days"),
        N_("Your password is more than {days} days old and must be changed."),
    ),
    (Violation.MUST_CHANGE, ""): (
        N_("Not a default or outdated password"),
        N_("You must set a new password before you continue."),
    ),
}
_MESSAGES = dict(_TEXTS.values())


@dataclass(frozen=True)
class Requirement:
    """One rule: its code, its checklist label (a msgid) and the label's placeholders."""

    code: Violation
    msgid: str
    params: dict[str, object] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """The msgid to show when this rule is broken (same placeholders as ``msgid``)."""
        return _MESSAGES[self.msgid]


# --- character classes -------------------------------------------------------------

# Seeds 000 and 003 name the letters A-Z and a-z and the digits 0-9: ASCII only.
_ASCII: dict[CharClass, str] = {
    "upper": string.ascii_uppercase,
    "lower": string.ascii_lowercase,
    "letter": string.ascii_letters,
    "digit": string.digits,
}
_MISSING: dict[CharClass, Violation] = {
    "upper": Violation.MISSING_UPPER,
    "lower": Violation.MISSING_LOWER,
    "letter": Violation.MISSING_LETTER,
    "digit": Violation.MISSING_DIGIT,
    "special": Violation.MISSING_SPECIAL,
}
_CLASS_OF: dict[Violation, CharClass] = {code: name for name, code in _MISSING.items()}


def is_special(policy: PasswordPolicy, char: str) -> bool:
    """Whether ``char`` counts as a special symbol under ``policy``."""
    if policy.special_characters is not None:
        return char in policy.special_characters  # seed 003: only ! $ # %
    # Seed 000: 特殊符號(不含_底線), any symbol but those in not_special. Letters and
    # digits of any script (漢字, é) are not symbols, nor invisible characters; a space is.
    return char not in policy.not_special and char.isprintable() and not char.isalnum()


def classes_in(policy: PasswordPolicy, password: str) -> set[CharClass]:
    """The character classes ``password`` contains (``letter`` when upper or lower)."""
    found: set[CharClass] = set()
    for char in set(password):
        for name, chars in _ASCII.items():
            if char in chars:
                found.add(name)
        if is_special(policy, char):
            found.add("special")
    return found


def _special_variant(policy: PasswordPolicy) -> tuple[str, dict[str, object]]:
    """Which spelling of 'special symbol' applies, and its placeholder."""
    if policy.special_characters is not None:
        return "only", {"symbols": " ".join(policy.special_characters)}
    if policy.not_special:
        return "except", {"excluded": " ".join(policy.not_special)}
    return "plain", {}


def _guaranteed_classes(policy: PasswordPolicy) -> int:
    """How many of the four counted classes the required classes already ensure."""
    required = set(policy.required_classes)
    count = len(required & set(COUNTED_CLASSES))
    if "letter" in required and not required & {"upper", "lower"}:
        count += 1
    return count


# --- the checklist -----------------------------------------------------------------


def describe(policy: PasswordPolicy, code: Violation) -> Requirement:
    """The requirement behind ``code`` under ``policy``, with its placeholders."""
    variant, params = "", dict[str, object]()
    if code in (Violation.MISSING_SPECIAL, Violation.TOO_FEW_CLASSES):
        variant, params = _special_variant(policy)
    elif code is Violation.REUSED:
        variant = "one" if policy.history <= 1 else "many"
    numbers: dict[Violation, dict[str, object]] = {
        Violation.TOO_SHORT: {"min": policy.min_length},
        Violation.TOO_LONG: {"max": policy.max_length},
        Violation.TOO_FEW_CLASSES: {"min": policy.min_classes},
        Violation.TOO_WEAK: {"score": policy.zxcvbn_min_score},
        Violation.REUSED: {"n": policy.history},
        Violation.EXPIRED: {"days": policy.max_age_days},
    }
    params |= numbers.get(code, {})
    return Requirement(code, _TEXTS[code, variant][0], params)


def requirements(policy: PasswordPolicy) -> list[Requirement]:
    """The checklist to show while the user types, in display order."""
    codes = [Violation.TOO_SHORT]
    codes += [_MISSING[name] for name in CHAR_CLASSES if name in policy.required_classes]
    # A k-of-4 rule the required classes already satisfy would only be noise.
    if policy.min_classes > _guaranteed_classes(policy):
        codes.append(Violation.TOO_FEW_CLASSES)
    # NIST SP 800-63B: always refuse common and breached passwords.
    codes.append(Violation.TOO_COMMON)
    if policy.zxcvbn_min_score > 0:
        codes.append(Violation.TOO_WEAK)
    if policy.forbid_personal_data:
        codes.append(Violation.CONTAINS_PERSONAL)
    if policy.history > 0:
        codes.append(Violation.REUSED)  # checked by the account service (argon2)
    return [describe(policy, code) for code in codes]


# --- the checks --------------------------------------------------------------------


def check(
    policy: PasswordPolicy, password: str, *, personal: Sequence[str] = ()
) -> list[Requirement]:
    """The requirements ``password`` does not meet (reuse is checked elsewhere)."""
    unmet: list[Requirement] = []
    if len(password) > policy.max_length:
        # First, as TOO_SHORT would be: min_length <= max_length, so never both.
        unmet.append(describe(policy, Violation.TOO_LONG))
    present = classes_in(policy, password)
    counted = sum(1 for name in COUNTED_CLASSES if name in present)
    for requirement in requirements(policy):
        match requirement.code:
            case Violation.TOO_SHORT:
                broken = len(password) < policy.min_length
            case Violation.TOO_FEW_CLASSES:
                broken = counted < policy.min_classes
            case Violation.TOO_COMMON:
                broken = is_common(password)
            case Violation.TOO_WEAK:
                broken = strength(password, personal) < policy.zxcvbn_min_score
            case Violation.CONTAINS_PERSONAL:
                broken = contains_personal(password, personal)
            case Violation.REUSED:
                broken = False
            case code:
                broken = _CLASS_OF[code] not in present
        if broken:
            unmet.append(requirement)
    return unmet


def must_change(
    policy: PasswordPolicy,
    *,
    changed_at: dt.datetime,
    now: dt.datetime,
    must_change_flag: bool,
    zone: dt.tzinfo = TAIPEI,
) -> Violation | None:
    """Whether the current password must be changed before the account is used."""
    if changed_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("changed_at and now must be timezone-aware")
    if must_change_flag:
        # A school-set default password (seed 003: 首次登入須變更密碼) or an admin's order.
        return Violation.MUST_CHANGE
    cutoff = policy.changed_before_must_change
    if cutoff is not None and changed_at.astimezone(zone).date() < cutoff:
        # Seed 000: passwords not changed since the announcement (2020/10/14) must change.
        return Violation.MUST_CHANGE
    max_age = policy.max_age_days
    if max_age is not None and now - changed_at >= dt.timedelta(days=max_age):
        return Violation.EXPIRED  # seed 000: 密碼有效期間為一年
    return None


# --- the browser's live checklist --------------------------------------------------


def _class_rule(policy: PasswordPolicy, name: CharClass) -> dict[str, object]:
    if name == "special":
        # chars null: any printable character that is not a letter or digit of any
        # script and not in "not" (seed 000); chars set: only those (seed 003).
        return {"class": name, "chars": policy.special_characters, "not": policy.not_special}
    return {"class": name, "chars": _ASCII[name], "not": ""}


def policy_as_json(policy: PasswordPolicy) -> list[dict[str, object]]:
    """Each requirement as a rule a browser can check; ``server`` rules it cannot."""
    rules: list[dict[str, object]] = []
    for requirement in requirements(policy):
        code = requirement.code
        rule: dict[str, object] = {"code": code.value, "msgid": requirement.msgid}
        rule["params"] = dict(requirement.params)
        if code is Violation.TOO_SHORT:
            rule |= {"kind": "min_length", "value": policy.min_length}
        elif code is Violation.TOO_FEW_CLASSES:
            rule |= {
                "kind": "classes",
                "value": policy.min_classes,
                "classes": [_class_rule(policy, name) for name in COUNTED_CLASSES],
            }
        elif code in _CLASS_OF:
            rule |= {"kind": "class", **_class_rule(policy, _CLASS_OF[code])}
        else:
            rule["kind"] = "server"  # common list, zxcvbn, personal data, history
        rules.append(rule)
    return rules
