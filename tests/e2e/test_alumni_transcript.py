"""Console transcripts of an alumni account application (seed 003), then staff review.

Each applicant is a different console user (``getpass`` reads ``LOGNAME``), so a
decision's chat notice reaches only the chat that applied, on its next turn.
"""

from __future__ import annotations

import re

from bot import conversations  # noqa: F401  (registers the flows)
from bot.flow import menu_flows
from tests.e2e.test_cli import helpdesk
from tests.e2e.test_console import chat

FLOW = str([flow.name for flow in menu_flows()].index("alumni_account") + 1)


def _as(env: dict[str, str], user: str) -> dict[str, str]:
    return {**env, "LOGNAME": user, "USER": user}


def _answers(
    *, id_number: str, name_zh: str, name_en: str, student_id: str, email: str
) -> list[str]:
    """Every question of the form in order; buttons by number (1 = 男, 2 = 碩士班)."""
    return [
        name_zh,
        name_en,
        "1",
        id_number,
        "74/05/06",
        "2",
        "資訊工程學系",
        student_id,
        "98",
        "2013",
        "+886 912-345-678",
        email,
        "臺北市大安區羅斯福路四段1號",
    ]


def test_zh_tw_an_applicant_who_declines_the_notice_leaves_nothing(env: dict[str, str]) -> None:
    env = _as(env, "lee")
    answers = _answers(
        id_number="E120219975",
        name_zh="李志明",
        name_en="Lee Chih-Ming",
        student_id="209203011",
        email="lee@example.com",
    )
    # A mistyped check digit first: explained, and the same question asked again.
    answers[3:3] = ["E120219976"]
    out = chat(env, "zh-TW", [FLOW, *answers, "2"])
    assert "檢查碼不符，可能有某一碼輸入錯誤。" in out
    assert "E120219975" not in out and "E120219976" not in out
    assert "個人資料" in out  # the notice
    # Declined: nothing stored, and the menu again.
    assert "請問需要什麼協助？" in out.split("個人資料")[-1]
    listed = helpdesk(env, "alumni", "applications")
    assert listed.returncode == 0, listed.stderr
    assert "No pending applications." in listed.stdout


def test_en_an_application_with_a_corrected_field_is_approved(env: dict[str, str]) -> None:
    env = _as(env, "chen")
    answers = _answers(
        id_number="b223456782",
        name_zh="陳美玲",
        name_en="Chen Mei-Ling",
        student_id="209203012",
        email="meiling.chen@example.com",
    )
    answers[2] = "2"  # Female
    answers[10:10] = ["02-2736-1234"]  # a landline: explained, asked again
    lines = [FLOW, *answers, "I agree", "Correct a field", "E-mail", "mlchen@example.org"]
    out = chat(env, "en", [*lines, "Submit"])
    assert "Please type a mobile number: in Taiwan" in out
    assert "B223456782" not in out and "b223456782" not in out
    summaries = out.split("Please check your application:")
    assert len(summaries) == 3  # before and after the correction
    assert "E-mail: meiling.chen@example.com" in summaries[1]
    assert "E-mail: mlchen@example.org" in summaries[2]
    assert "ID number: B2******82" in summaries[2]
    assert "Birthday: 1985-**-**" in summaries[2]
    assert "Mobile: 0912-345-678" in summaries[2]
    assert "Year of entry: 2009 (ROC 98)" in summaries[2]
    received = re.search(r"was received \(number (\d+)\)", out)
    assert received is not None, out
    number = received.group(1)
    assert "about 7 working days" in out
    assert "your account will be B20920301200" in out
    assert re.search(r"mail to mlchen@example\.org written to \S+\.eml", out)

    listed = helpdesk(env, "alumni", "applications")
    assert re.search(rf"│\s*{number}\s*│.*陳美玲 Chen Mei-Ling.*B2\*{{6}}82", listed.stdout)
    assert "B223456782" not in listed.stdout

    approved = helpdesk(env, "alumni", "approve", number)
    assert approved.returncode == 0, approved.stderr
    assert "approved, account B20920301200" in approved.stdout
    told = chat(env, "en", ["/menu"])
    assert "Your account is B20920301200." in told
    assert "with its letters in upper case" in told and "you must change it" in told
    assert "mail to mlchen@example.org written to" in told
    assert "No pending applications." in helpdesk(env, "alumni", "applications").stdout

    again = helpdesk(env, "alumni", "approve", number)
    assert again.returncode == 1 and "not pending" in again.stderr


def test_zh_tw_a_rejected_applicant_is_told_why_on_their_next_turn(env: dict[str, str]) -> None:
    env = _as(env, "wang")
    answers = _answers(
        id_number="A800000014",
        name_zh="王美華",
        name_en="Wang Mei-Hua",
        student_id="109205098",
        email="meihua@example.net",
    )
    out = chat(env, "zh-TW", [FLOW, *answers, "1", "1"])
    assert "A8******14" in out and "1985-**-**" in out
    assert "工作日" in out  # seed 003: 需要7個工作日審查
    listed = helpdesk(env, "alumni", "applications")
    found = re.search(r"│\s*(\d+)\s*│.*王美華", listed.stdout)
    assert found is not None, listed.stdout
    number = found.group(1)

    # Someone else's chat hears nothing of it.
    assert "畢業名冊" not in chat(_as(env, "someone-else"), "zh-TW", ["/menu"])
    rejected = helpdesk(env, "alumni", "reject", number, "--reason", "畢業名冊查無此學號 109205098")
    assert rejected.returncode == 0, rejected.stderr
    told = chat(env, "zh-TW", ["/menu"])
    assert "畢業名冊查無此學號 109205098" in told
    assert "Reason:" not in told  # told in the language they applied in

    # The next application of the same person is accepted: nothing is pending any more.
    again = chat(env, "zh-TW", [FLOW, *answers, "1", "1"])
    assert "B10920509800" in again
    assert re.search(r"│\s*\d+\s*│.*王美華", helpdesk(env, "alumni", "applications").stdout)
    assert helpdesk(env, "alumni", "reject", "999", "--reason", "x").returncode == 1
