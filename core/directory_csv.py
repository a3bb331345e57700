"""Read the directory CSV the registry exports: every row checked, nothing written.

An error names the line and what is wrong with it, never the ID number or birthday
it holds: error lists end up in terminals, tickets and mails (DESIGN.md, security rules).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

from core.birthdays import BirthdayProblem, InvalidBirthday, parse_birthday
from core.idnumbers import IdNumber, IdProblem, InvalidIdNumber, parse_id_number
from core.models import RecordStatus, Role
from core.profiles import Profile
from core.text import normalise
from core.years import EARLIEST_YEAR, ROC_OFFSET, InvalidYear, parse_year

COLUMNS: dict[str, str] = {
    "id_number": "National ID or resident certificate number (full-width accepted).",
    "birthday": "Birthday: 1996-01-02, 19960102, ROC 85/01/02 or 850102.",
    "name_zh": "Name in Chinese, e.g. 林明志.",
    "name_en": "Name in passport style, e.g. Lin Ming-Zhi.",
    "role": "student, staff or alumnus.",
    "student_id": "Student ID in the profile's format; empty for staff.",
    "degree_level": "A degree level code of the profile, e.g. master; empty for staff.",
    "department": "Department name; empty for staff.",
    "entry_year": "Year of entry, Gregorian (2024) or ROC (113); empty for staff.",
    "status": "enrolled, suspended, returning, graduated or withdrawn; empty for staff.",
    "email": "Notification address off campus (optional).",
    "mailbox": (
        "The person's mailbox if it exists (optional column); staff without one are imported"
        " without a mailbox and apply for one in the chat."
    ),
}
# Columns a file may leave out (files from before they existed still import).
OPTIONAL_COLUMNS = frozenset({"mailbox"})

# Columns that describe an enrolment: required for students and alumni, empty for staff.
_RECORD_COLUMNS = ("student_id", "degree_level", "department", "entry_year", "status")

# A column name we may echo back; anything else could be a value from a data row.
_NAME = re.compile(r"[a-z][a-z0-9_ ]{0,30}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")

_ID_REASONS = {
    IdProblem.EMPTY: "id_number: empty",
    IdProblem.TOO_LONG: "id_number: far too long",
    IdProblem.BAD_LENGTH: "id_number: must be 10 characters",
    IdProblem.BAD_FIRST_LETTER: "id_number: must start with a letter",
    IdProblem.BAD_SECOND_CHARACTER: "id_number: the second character must be 1, 2, 8, 9 or A-D",
    IdProblem.NOT_DIGITS: "id_number: the last 8 characters must be digits",
    IdProblem.CHECK_DIGIT: "id_number: the check digit does not match",
    IdProblem.OLD_RESIDENT_EXPIRED: "id_number: old-form resident numbers ended 2031-01-01",
}

_BIRTHDAY_REASONS = {
    BirthdayProblem.EMPTY: "birthday: empty",
    BirthdayProblem.TOO_LONG: "birthday: far too long",
    BirthdayProblem.UNRECOGNISED: "birthday: not a date; write 1996-01-02, 19960102 or 85/01/02",
    BirthdayProblem.IMPOSSIBLE_DATE: "birthday: no such date",
    BirthdayProblem.IN_FUTURE: "birthday: in the future",
    BirthdayProblem.TOO_OLD: "birthday: before 1900",
}


@dataclass
class ImportRow:
    """One valid person from the file; the birthday stays out of repr."""

    line: int
    id_number: IdNumber
    birthday: dt.date = field(repr=False)
    name_zh: str
    name_en: str
    role: Role
    student_id: str | None = None
    degree_level: str | None = None
    department: str | None = None
    entry_year: int | None = None
    status: RecordStatus | None = None
    email: str | None = None
    mailbox: str | None = None


@dataclass(frozen=True)
class RowError:
    """What is wrong on one line of the file; never the personal data itself."""

    line: int
    reason: str


def parse_rows(
    lines: Iterable[str] | TextIO, *, profile: Profile, today: dt.date
) -> tuple[list[ImportRow], list[RowError]]:
    """Validate every row; return the good rows and an error for each problem found."""
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        return [], [RowError(1, "the file is empty; the first line must name the columns")]
    names = [cell.strip().lstrip("\ufeff").strip().lower() for cell in header]
    if header_problem := _check_header(names):
        return [], [RowError(1, header_problem)]

    rows: list[ImportRow] = []
    errors: list[RowError] = []
    seen_ids: dict[str, int] = {}
    seen_student_ids: dict[str, int] = {}
    # Count lines as the file does: a quoted value may span several.
    next_line = reader.line_num + 1
    for cells in reader:
        line, next_line = next_line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(names):  # the optional columns too, when the header has them
            errors.append(RowError(line, f"expected {len(names)} values, found {len(cells)}"))
            continue
        # Full-width letters and digits, which Chinese keyboards often type, fold to ASCII.
        values = {name: normalise(cell).strip() for name, cell in zip(names, cells, strict=True)}
        row, problems = _parse_row(line, values, profile=profile, today=today)
        if row is not None:
            first = seen_ids.setdefault(row.id_number.value, line)
            if first != line:
                problems.append(f"id_number: the same ID number is already on line {first}")
            if row.student_id is not None:
                first = seen_student_ids.setdefault(row.student_id, line)
                if first != line:
                    problems.append(f"student_id: the same student ID is already on line {first}")
        errors.extend(RowError(line, problem) for problem in problems)
        if row is not None and not problems:
            rows.append(row)
    return rows, errors


def _check_header(names: list[str]) -> str | None:
    if not set(names) & COLUMNS.keys():
        # Likely a file without a header, whose first line is someone's data: name none of it.
        return "header: the first line must name the columns: " + ", ".join(COLUMNS)
    missing = [name for name in COLUMNS if name not in names and name not in OPTIONAL_COLUMNS]
    unknown = [name if _NAME.fullmatch(name) else "?" for name in names if name not in COLUMNS]
    twice = sorted({name for name in names if names.count(name) > 1})
    problems = [
        f"{label}: {', '.join(found)}"
        for label, found in (("missing", missing), ("unknown", unknown), ("twice", twice))
        if found
    ]
    return "header: columns " + "; ".join(problems) if problems else None


def _parse_row(
    line: int, values: dict[str, str], *, profile: Profile, today: dt.date
) -> tuple[ImportRow | None, list[str]]:
    problems: list[str] = []
    id_number: IdNumber | None = None
    birthday: dt.date | None = None
    role: Role | None = None
    try:
        id_number = parse_id_number(values["id_number"], today=today)
    except InvalidIdNumber as exc:
        problems.append(_ID_REASONS[exc.problem])
    try:
        birthday = parse_birthday(values["birthday"], today=today)
    except InvalidBirthday as exc:
        problems.append(_BIRTHDAY_REASONS[exc.problem])
    for name, limit in (("name_zh", 100), ("name_en", 200), ("department", 100)):
        if len(values[name]) > limit:
            problems.append(f"{name}: longer than {limit} characters")
    problems += [f"{name}: empty" for name in ("name_zh", "name_en") if not values[name]]
    try:
        role = Role(values["role"].lower())
    except ValueError:
        problems.append("role: must be student, staff or alumnus")
    if role is Role.STAFF:
        problems += [f"{name}: must be empty for staff" for name in _RECORD_COLUMNS if values[name]]
    elif role is not None:
        problems += [
            f"{name}: required for {'an alumnus' if role is Role.ALUMNUS else 'a student'}"
            for name in _RECORD_COLUMNS
            if not values[name]
        ]
    email = values["email"].lower() or None
    if email is not None and (len(email) > 254 or not _EMAIL.fullmatch(email)):
        problems.append("email: not an e-mail address")
    mailbox = values.get("mailbox", "").lower() or None
    if mailbox is not None and (len(mailbox) > 254 or not _EMAIL.fullmatch(mailbox)):
        problems.append("mailbox: not an e-mail address")

    student_id = values["student_id"] or None
    if student_id and not re.fullmatch(profile.accounts.student_id_pattern, student_id):
        problems.append("student_id: does not match the profile's student ID format")
    degree_level = values["degree_level"].lower() or None
    if degree_level and profile.degree_level(degree_level) is None:
        codes = ", ".join(level.code for level in profile.degree_levels)
        problems.append(f"degree_level: not one of the profile's levels ({codes})")
    year = entry_year(values["entry_year"], today=today) if values["entry_year"] else None
    if values["entry_year"] and year is None:
        problems.append(
            f"entry_year: must be a year from {EARLIEST_YEAR} to {today.year + 1} "
            f"(or ROC {EARLIEST_YEAR - ROC_OFFSET} to {today.year + 1 - ROC_OFFSET})"
        )
    status = _status(values["status"], role, problems)

    if problems or id_number is None or birthday is None or role is None:
        return None, problems
    return ImportRow(
        line=line,
        id_number=id_number,
        birthday=birthday,
        name_zh=values["name_zh"],
        name_en=values["name_en"],
        role=role,
        student_id=student_id,
        degree_level=degree_level,
        department=values["department"] or None,
        entry_year=year,
        status=status,
        email=email,
        mailbox=mailbox,
    ), problems


def _status(text: str, role: Role | None, problems: list[str]) -> RecordStatus | None:
    if not text:
        return None
    try:
        status = RecordStatus(text.lower())
    except ValueError:
        problems.append("status: must be enrolled, suspended, returning, graduated or withdrawn")
        return None
    if role is Role.ALUMNUS and status is not RecordStatus.GRADUATED:
        problems.append("status: an alumnus's record must be graduated")
    return status


def entry_year(text: str, *, today: dt.date) -> int | None:
    """A Gregorian year from 1945 to next year, from a Gregorian or ROC (2-3 digit) year."""
    try:
        return parse_year(text, latest=today.year + 1)
    except InvalidYear:
        return None
