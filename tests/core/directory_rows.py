"""Rows of a directory CSV shared by the reading and the loading tests."""

from __future__ import annotations

import datetime as dt

from core.directory_csv import COLUMNS, ImportRow, RowError, parse_rows
from core.idnumbers import make_valid
from core.profiles import load_profile

NOW = dt.datetime(2026, 9, 1, 3, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
DEMO = load_profile("demo")

HEADER = ",".join(name for name in COLUMNS if name != "mailbox")
STUDENT_ID = make_valid("P12233445")
STAFF_ID = make_valid("R22001133")
ALUMNUS_ID = make_valid("S11002200")
RESIDENT_ID = make_valid("Q81234567")
WRONG_CHECK_DIGIT = STAFF_ID[:-1] + str((int(STAFF_ID[-1]) + 1) % 10)

GOOD = [
    HEADER,
    f"{STUDENT_ID},2003-04-05,周子涵,Zhou Zi-Han,student,111403101,bachelor,資訊工程學系,2025,"
    "enrolled,zihan.zhou@example.com",
    f"{STAFF_ID},1975/6/7,郭淑芬,Guo Shu-Fen,staff,,,,,,",
    f"{ALUMNUS_ID},75/08/09,許建文,Xu Jian-Wen,alumnus,109501102,master,教育學系,95,graduated,",
    f"{RESIDENT_ID},19990101,阮氏秋,Nguyen Thi Thu,student,311203103,doctoral,教育學系,112,"
    "returning,",
]


def parse(lines: list[str]) -> tuple[list[ImportRow], list[RowError]]:
    return parse_rows(lines, profile=DEMO, today=TODAY)
