"""A fictional directory for the demo and the tests, the same on every run.

The ID numbers pass the checksum but are made up (random digits completed with
``make_valid``); names are common Taiwanese names picked at random. ``DEMO_PEOPLE``
are the few the README and the tests refer to by name.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.directory_import import DirectoryKeys, ImportRow, add_person
from core.idnumbers import make_valid, parse_id_number
from core.mailbox_names import free_names
from core.models import (
    AlumniCard,
    CardStatus,
    MailboxCondition,
    Person,
    RecordStatus,
    Role,
)
from core.pii import PiiHasher
from core.profiles import Profile
from core.years import ROC_OFFSET

# Seed 003: NTU's 數位校友證 (digital alumni card).
CARD_TYPE = "digital"

_SEED = 20240901
_RANDOM_STUDENTS = 200
_RANDOM_STAFF = 40
_RANDOM_ALUMNI = 53

_DEPARTMENTS = {
    1: "中國語文學系",
    2: "外國語文學系",
    3: "資訊工程學系",
    4: "電機工程學系",
    5: "應用數學系",
    6: "教育學系",
    7: "企業管理學系",
    8: "藝術與造形設計學系",
}


@dataclass(frozen=True)
class DemoPerson:
    """A well-known fictional person of the demo directory, with clear-text personal data."""

    name_zh: str
    name_en: str
    id_number: str
    birthday: dt.date
    role: Role
    degree_level: str | None = None
    student_id: str | None = None
    status: RecordStatus | None = None
    mailbox: MailboxCondition | None = None
    card: CardStatus | None = None
    must_change: bool = False
    email: str | None = None
    new_hire: bool = False  # staff without a mailbox yet


# Student IDs in the demo profile's shape: programme digit (its degree level's position),
# ROC entry year, department, sequence, like NTUE's 2113##001 (seed 001).
DEMO_PEOPLE: list[DemoPerson] = [
    DemoPerson(
        "林明志", "Lin Ming-Zhi", "A128573490", dt.date(2001, 3, 14), Role.STUDENT,
        "master", "211303001", RecordStatus.ENROLLED, MailboxCondition.NORMAL,
        email="mingzhi.lin@example.com",
    ),
    DemoPerson(
        "陳怡君", "Chen Yi-Jun", "B226034180", dt.date(2004, 7, 22), Role.STUDENT,
        "bachelor", "111201002", RecordStatus.ENROLLED, MailboxCondition.SUSPENDED,
        email="yijun.chen@example.net",
    ),
    DemoPerson(
        "王大同", "Wang Da-Tong", "F107493269", dt.date(1985, 11, 5), Role.ALUMNUS,
        "bachelor", "109205003", RecordStatus.GRADUATED, card=CardStatus.ACTIVE,
        email="datong.wang@example.com",
    ),
    DemoPerson(
        "阮文安", "Nguyen Van An", "H803527162", dt.date(1998, 9, 30), Role.STUDENT,
        "doctoral", "311204004", RecordStatus.ENROLLED, MailboxCondition.NORMAL,
    ),
    DemoPerson(
        "黃淑芬", "Huang Shu-Fen", "E281640572", dt.date(1979, 5, 18), Role.STAFF,
        mailbox=MailboxCondition.PENDING,
    ),
    # A new hire with no mailbox yet and an address HR gave (seed 004's applicant).
    DemoPerson(
        "蔡佩珊", "Cai Pei-Shan", "G225136840", dt.date(1996, 4, 12), Role.STAFF,
        email="peishan.cai@example.org", new_hire=True,
    ),
    DemoPerson(
        "張家豪", "Zhang Jia-Hao", "D124608753", dt.date(2006, 1, 9), Role.STUDENT,
        "bachelor", "111401005", RecordStatus.ENROLLED, MailboxCondition.NORMAL,
        must_change=True,
    ),
    DemoPerson(
        "吳雅婷", "Wu Ya-Ting", "C215930841", dt.date(1990, 12, 2), Role.ALUMNUS,
        "master", "210206006", RecordStatus.GRADUATED, card=CardStatus.PENDING,
        email="yating.wu@example.org",
    ),
]  # fmt: skip


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """Split "陳Chen 林Lin" into (("陳", "Chen"), ("林", "Lin"))."""
    return tuple((word[0], word[1:]) for word in text.split())


_SURNAMES = _pairs(
    "陳Chen 林Lin 黃Huang 張Zhang 李Li 王Wang 吳Wu 劉Liu 蔡Cai 楊Yang 許Xu 鄭Zheng 謝Xie "
    "郭Guo 洪Hong 曾Zeng 邱Qiu 廖Liao 賴Lai 周Zhou 葉Ye 蘇Su 莊Zhuang 江Jiang 何He 蕭Xiao "
    "羅Luo 高Gao 潘Pan 簡Jian"
)
_GIVEN_MALE = _pairs(
    "明Ming 志Zhi 家Jia 豪Hao 宇Yu 翔Xiang 冠Guan 廷Ting 承Cheng 柏Bo 宏Hong 俊Jun 傑Jie "
    "建Jian 文Wen 哲Zhe 彥Yan 均Jun 偉Wei 凱Kai"
)
_GIVEN_FEMALE = _pairs(
    "怡Yi 君Jun 雅Ya 婷Ting 欣Xin 妤Yu 詩Shi 涵Han 佳Jia 穎Ying 淑Shu 芬Fen 美Mei 玲Ling "
    "品Pin 瑄Xuan 子Zi 晴Qing 思Si 妍Yan"
)
# Residents with a resident certificate: (Chinese name, passport name).
_FOREIGN = (
    ("阮氏秋", "Nguyen Thi Thu"),
    ("黎文雄", "Le Van Hung"),
    ("山田花子", "Yamada Hanako"),
    ("金敏俊", "Kim Min-Jun"),
    ("席蒂", "Siti Aminah"),
    ("馬克", "Mark Johnson"),
)
# First letters of the random numbers (the checksum accepts any letter).
_LETTERS = "ABCDEFGHJKLMNPQTUVXZ"
# The programme letter for profiles whose student IDs start with one (e.g. NTU's B09901001).
_PROGRAMME_LETTERS = {"bachelor": "B", "master": "R", "doctoral": "D", "continuing": "C"}

_SUSPENDED_REASON = (
    "SMTPAUTH 或 webmail 疑似異常登入（或寄信） / "
    "Suspected abnormal SMTP AUTH or webmail login (or sending)"
)

# In the style of NTHU's notice to a suspended mailbox (seed 002).
_NOTICE = """\
疑似異常登入，暫停信箱帳號
各位：最近發現 {address} 信箱帳號有 SMTPAUTH 或 webmail 疑似異常登入（或寄信），因此暫停您的帳號，請知照。
原因：您使用 {address} 信箱帳號時，{day} 有使用 SMTPAUTH 或 webmail 與遠端大量傳送信件；為防止數量過大，已暫停該帳號登入。此帳號可能遭人盜用濫寄，但不影響信箱正常收信。請先閱讀本公告，再設定新密碼。

Suspected abnormal login; mailbox suspended
We recently found suspicious SMTP AUTH or webmail logins (or sending) on the mailbox {address}, so it has been suspended.
Reason: on {day} the mailbox {address} sent a large number of messages to remote recipients through SMTP AUTH or webmail; to stop them, logins to it are suspended. The account may have been taken over to send spam; mail still arrives in the mailbox. Please read this notice first, then set a new password."""  # noqa: E501


@dataclass(frozen=True)
class _Plan:
    """A demo person and the details that vary from one to the next."""

    person: DemoPerson
    level_index: int = 0
    department: int = 3
    entry_year: int = 2024
    seq: int = 0
    password_age_days: int = 30
    quota_permille: int = 120
    suspended_days_ago: int = 2
    card_days_ago: int = 40


@dataclass
class SeedReport:
    """What ``seed_demo`` added, by kind, and how many people it found already present."""

    people: int = 0
    students: int = 0
    staff: int = 0
    alumni: int = 0
    cards: int = 0
    mailboxes: int = 0
    skipped: int = 0


def student_id_for(profile: Profile, level: str, entry_year: int, department: int, seq: int) -> str:
    """A student ID in a shape the profile's pattern accepts."""
    codes = [each.code for each in profile.degree_levels]
    programme = codes.index(level) + 1 if level in codes else 9
    roc = entry_year - ROC_OFFSET
    letter = _PROGRAMME_LETTERS.get(level, "ABEFGHJK"[programme % 8])
    for candidate in (
        f"{programme}{roc:03d}{department:02d}{seq:03d}",  # 211303001, like NTUE's
        f"{letter}{roc % 100:02d}{department:03d}{seq:03d}",  # R13003001, like NTU's
    ):
        if re.fullmatch(profile.accounts.student_id_pattern, candidate):
            return candidate
    raise ValueError("the profile's student_id_pattern accepts none of the demo's shapes")


class _Drawer:
    """Draws the random part of the directory from a fixed seed."""

    def __init__(self) -> None:
        self.rng = random.Random(_SEED)
        self.taken = {person.id_number for person in DEMO_PEOPLE}

    def id_number(self, form: str) -> str:
        """A new checksum-valid number: national ID, or new or old resident certificate."""
        choices = {"national": "12", "new": "89", "old": "ABCD"}[form]
        while True:
            digits = f"{self.rng.randrange(10**7):07d}"
            value = make_valid(self.rng.choice(_LETTERS) + self.rng.choice(choices) + digits)
            if value not in self.taken:
                self.taken.add(value)
                return value

    def name(self, form: str, id_number: str) -> tuple[str, str]:
        """A Chinese name and its passport spelling; the ID's gender digit picks the names."""
        if form != "national":
            return self.rng.choice(_FOREIGN)
        surname, surname_en = self.rng.choice(_SURNAMES)
        given = _GIVEN_FEMALE if id_number[1] == "2" else _GIVEN_MALE
        (first, first_en), (second, second_en) = self.rng.sample(given, 2)
        # Passport style as the product uses it: "Lin Ming-Zhi".
        return surname + first + second, f"{surname_en} {first_en}-{second_en}"

    def plan(self, index: int, role: Role) -> _Plan:
        """One random person; the index picks the degree level and the resident forms."""
        rng = self.rng
        # Resident certificate holders of both forms, a few in every hundred.
        form = {5: "new", 23: "old"}.get(index % 37, "national")
        id_number = self.id_number(form)
        zh, en = self.name(form, id_number)
        level_index = index % 8
        status: RecordStatus | None = None
        condition: MailboxCondition | None = rng.choices(
            (MailboxCondition.NORMAL, MailboxCondition.SUSPENDED, MailboxCondition.PENDING),
            weights=(85, 8, 7),
        )[0]
        if role is Role.STAFF:
            born = dt.date(1960 + rng.randrange(40), 1, 1)
            entry = 0
        else:
            entry = 2020 + rng.randrange(6) if role is Role.STUDENT else 1995 + rng.randrange(25)
            born = dt.date(entry - 18 - 4 * (level_index % 4) - rng.randrange(3), 1, 1)
            status = rng.choices(
                (
                    RecordStatus.ENROLLED,
                    RecordStatus.SUSPENDED,
                    RecordStatus.RETURNING,
                    RecordStatus.GRADUATED,
                ),
                weights=(70, 10, 10, 10),
            )[0]
        if role is Role.ALUMNUS:
            status, condition = RecordStatus.GRADUATED, None
        card = CardStatus.ACTIVE if role is Role.ALUMNUS and rng.random() < 0.5 else None
        email = f"user{index:03d}@example.com" if rng.random() < 0.4 else None
        person = DemoPerson(
            zh,
            en,
            id_number,
            born + dt.timedelta(days=rng.randrange(365)),
            role,
            status=status,
            mailbox=condition,
            card=card,
            must_change=rng.random() < 0.3,
            email=email,
        )
        return _Plan(
            person,
            level_index=level_index,
            department=1 + rng.randrange(len(_DEPARTMENTS)),
            entry_year=entry,
            seq=101 + index,
            password_age_days=rng.randrange(500),
            quota_permille=rng.choice((0, 50, 300, 700, 999)),
            suspended_days_ago=1 + rng.randrange(30),
            card_days_ago=30 + rng.randrange(700),
        )


def _plans() -> list[_Plan]:
    """The whole directory; the same people, in the same order, on every run."""
    plans = []
    for person in DEMO_PEOPLE:
        sid = person.student_id or "000000000"
        plans.append(
            _Plan(
                person,
                department=int(sid[4:6]),
                entry_year=int(sid[1:4]) + ROC_OFFSET,
                seq=int(sid[6:]),
                # Seed 004 shows a nearly full quota; 阮文安 is the one to ask about it.
                quota_permille=995 if person.name_en == "Nguyen Van An" else 120,
                card_days_ago=2 if person.card is CardStatus.PENDING else 400,
            )
        )
    drawer = _Drawer()
    roles = (
        [Role.STUDENT] * _RANDOM_STUDENTS
        + [Role.STAFF] * _RANDOM_STAFF
        + [Role.ALUMNUS] * _RANDOM_ALUMNI
    )
    plans += [drawer.plan(index, role) for index, role in enumerate(roles)]
    return plans


def _row(plan: _Plan, profile: Profile, used: set[str]) -> ImportRow:
    """The directory row of a planned person, fitted to the profile's levels and IDs.

    Staff other than new hires have a mailbox, named by ``core.mailbox_names`` and never
    one in ``used``.
    """
    person = plan.person
    row = ImportRow(
        line=0,
        id_number=parse_id_number(person.id_number),
        birthday=person.birthday,
        name_zh=person.name_zh,
        name_en=person.name_en,
        role=person.role,
        email=person.email,
    )
    if person.role is Role.STAFF:
        if not person.new_hire:
            name = free_names(person.name_en, used, limit=1)[0]
            used.add(name)
            row.mailbox = f"{name}@{profile.accounts.mail_domain.lower()}"
        return row
    codes = [level.code for level in profile.degree_levels]
    level = person.degree_level
    if level not in codes:
        level = codes[plan.level_index % len(codes)]
    student_id = person.student_id
    if student_id is None or not re.fullmatch(profile.accounts.student_id_pattern, student_id):
        student_id = student_id_for(profile, level, plan.entry_year, plan.department, plan.seq)
    row.student_id = student_id
    row.degree_level = level
    row.department = _DEPARTMENTS[plan.department]
    row.entry_year = plan.entry_year
    row.status = person.status
    return row


def _shape(person: Person, plan: _Plan, *, now: dt.datetime) -> None:
    """Give a freshly added person the planned account and mailbox state."""
    changed_at = now - dt.timedelta(days=plan.password_age_days)
    for account in person.accounts:
        account.must_change = plan.person.must_change
        account.password_changed_at = changed_at
    condition = plan.person.mailbox or MailboxCondition.NORMAL
    for mailbox in person.mailboxes:
        mailbox.condition = condition
        mailbox.password_changed_at = changed_at
        if condition is MailboxCondition.PENDING:
            # Seed 004: a new mailbox takes effect some minutes after it is created.
            continue
        mailbox.created_at = changed_at - dt.timedelta(days=30)
        mailbox.quota_used_kb = mailbox.quota_limit_kb * plan.quota_permille // 1000
        if condition is MailboxCondition.SUSPENDED:
            suspended_at = now - dt.timedelta(days=plan.suspended_days_ago)
            mailbox.suspended_at = suspended_at
            mailbox.suspended_reason = _SUSPENDED_REASON
            day = suspended_at.strftime("%Y/%m/%d")
            mailbox.suspension_notice = _NOTICE.format(address=mailbox.address, day=day)


def _card(person: Person, plan: _Plan, *, now: dt.datetime) -> AlumniCard:
    status = plan.person.card or CardStatus.PENDING
    applied_at = now - dt.timedelta(days=plan.card_days_ago)
    return AlumniCard(
        person_id=person.id,
        card_type=CARD_TYPE,
        status=status,
        secret_encrypted=None,
        valid_until=(applied_at + dt.timedelta(days=5 * 365)).date(),
        applied_at=applied_at,
        decided_at=applied_at + dt.timedelta(days=3) if status is CardStatus.ACTIVE else None,
    )


async def seed_demo(
    session: AsyncSession,
    *,
    profile: Profile,
    pii: PiiHasher,
    password_hash: str,
    now: dt.datetime,
) -> SeedReport:
    """Add the demo directory in the caller's transaction; people already present are skipped."""
    used: set[str] = set()
    planned = [(plan, _row(plan, profile, used)) for plan in _plans()]
    keys = await DirectoryKeys.load(
        session,
        id_hashes={pii.id_number(row.id_number.value) for _, row in planned},
        student_ids={row.student_id for _, row in planned if row.student_id},
    )
    report = SeedReport()
    carded: list[tuple[Person, _Plan]] = []
    for plan, row in planned:
        person = add_person(
            session, row, keys, profile=profile, pii=pii, password_hash=password_hash, now=now
        )
        if person is None:
            report.skipped += 1
            continue
        _shape(person, plan, now=now)
        report.people += 1
        report.mailboxes += len(person.mailboxes)
        if row.role is Role.STUDENT:
            report.students += 1
        elif row.role is Role.STAFF:
            report.staff += 1
        else:
            report.alumni += 1
        if plan.person.card is not None:
            carded.append((person, plan))
    await session.flush()  # the cards need their people's ids
    session.add_all(_card(person, plan, now=now) for person, plan in carded)
    report.cards = len(carded)
    await session.flush()
    return report
