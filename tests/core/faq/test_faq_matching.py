"""Typed questions find their flow or FAQ answer, measured on labelled questions
written the way students type (tests/data/questions/), none of them copied from the
examples the matcher is built from."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.faq import Faq, flow_intents_names, for_profile

QUESTIONS = Path(__file__).resolve().parents[2] / "data" / "questions"
# Questions about these must start the flow (it checks identity, sends the link):
# an FAQ answer instead would leave the user without their password or ID.
GUARDED_FLOWS = ("forgot_password", "change_password", "student_id")


def labelled(locale: str) -> list[tuple[str, str]]:
    rows = []
    for line in (QUESTIONS / f"{locale}.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            expected, question = line.split("\t")
            rows.append((expected, question))
    return rows


def routed(faq: Faq, question: str) -> str:
    best = faq.match(question).best
    return f"{best.kind}:{best.key}" if best else "none"


@pytest.fixture(scope="module")
def demo() -> Faq:
    return for_profile("demo")


@pytest.mark.parametrize("locale", ["zh_TW", "en"])
def test_labelled_set_holds_at_least_150_questions_per_language(locale: str) -> None:
    assert len(labelled(locale)) >= 150


@pytest.mark.parametrize("locale", ["zh_TW", "en"])
def test_at_least_90_percent_of_labelled_questions_are_routed_right(demo: Faq, locale: str) -> None:
    rows = labelled(locale)
    wrong = [(q, want, routed(demo, q)) for want, q in rows if routed(demo, q) != want]
    accuracy = 1 - len(wrong) / len(rows)
    assert accuracy >= 0.9, f"{accuracy:.1%}; wrong: {wrong}"


@pytest.mark.parametrize("locale", ["zh_TW", "en"])
def test_no_password_or_id_question_is_answered_by_an_faq_entry(demo: Faq, locale: str) -> None:
    for expected, question in labelled(locale):
        if expected.removeprefix("flow:") in GUARDED_FLOWS:
            kinds = {c.kind for c in demo.match(question).candidates}
            assert "faq" not in kinds, question


def test_every_expected_label_names_a_flow_or_a_demo_answer(demo: Faq) -> None:
    known = {f"flow:{name}" for name in flow_intents_names()}
    known |= {f"faq:{entry_id}" for entry_id in demo.entries} | {"none"}
    for locale in ("zh_TW", "en"):
        assert {expected for expected, _ in labelled(locale)} <= known


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("ＶＰＮ　連不上", "faq:vpn"),  # full-width letters and space
        ("我的\u200bvpn連不上", "faq:vpn"),  # a zero-width space pasted in
        ("忘記密碼了", "flow:forgot_password"),
        ("i forgot my pasword", "flow:forgot_password"),  # typo
        ("eduraom連不上", "faq:eduroam"),  # typo inside Chinese
        ("学号怎么查", "flow:student_id"),  # simplified characters
        ("帳密忘了", "flow:forgot_password"),  # Taiwanese shorthand
        ("my mailbox is SUSPENDED", "flow:mailbox"),
    ],
)
def test_typed_variants_find_their_intent(demo: Faq, question: str, expected: str) -> None:
    assert routed(demo, question) == expected


@pytest.mark.parametrize("question", ["", "   ", "🙂🙂", "哈哈哈", "asdfgh", "x" * 10_000])
def test_noise_matches_nothing(demo: Faq, question: str) -> None:
    assert demo.match(question).best is None


def test_close_candidates_are_offered_together_as_did_you_mean(demo: Faq) -> None:
    match = demo.match("密碼")
    assert match.ambiguous
    keys = [c.key for c in match.candidates]
    assert {"forgot_password", "change_password"} <= set(keys)


def test_a_clear_question_has_one_candidate_with_its_confidence(demo: Faq) -> None:
    match = demo.match("eduroam 連不上")
    assert not match.ambiguous
    assert match.best is not None and match.best.confidence >= 0.55


def test_an_answer_is_given_in_the_users_language(demo: Faq) -> None:
    zh, en = demo.answer("helpdesk_location", "zh_TW"), demo.answer("helpdesk_location", "en")
    assert zh is not None and "服務台" in zh.body
    assert en is not None and "help desk" in en.body
    assert demo.answer("no-such-answer", "en") is None
