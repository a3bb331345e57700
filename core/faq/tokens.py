"""Turn typed text into the units the FAQ matcher ranks: words, Chinese characters and pairs.

Chinese is written without spaces, so a run of Chinese characters becomes its single
characters and its overlapping pairs (忘記密碼 → 忘 記 密 碼 忘記 記密 密碼): the pairs carry
most of the meaning, the single characters keep a match when a typo breaks a pair. Latin
text becomes words, each reduced to its stem. Function words and particles (我, 了, 嗎,
"how", "my") carry no topic and are dropped from the single units.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import Stemmer  # type: ignore[import-not-found]

from core.text import fold

# Longer questions are essays or pastes; their first part says what they are about.
MAX_CHARS = 200

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"[{_CJK}]+|[a-z0-9]+")

# Simplified forms of the characters help-desk questions use, for students who type them
# (exchange students, phones set to simplified input); everything else is left alone.
_SIMPLIFIED = str.maketrans(
    "码号邮账户记网络证连线认设学书馆时间额务处实验请问么吗个这为开关录办变询没还无题机脑软体载装员费统台",
    "碼號郵帳戶記網絡證連線認設學書館時間額務處實驗請問麼嗎個這為開關錄辦變詢沒還無題機腦軟體載裝員費統臺",
)
# One spelling of the characters Taiwan writes two ways (臺/台, 裏/裡).
_VARIANTS = str.maketrans("台裏綫", "臺裡線")

# Shorthand students type, spelled out (after folding, so lower case and half-width).
_PHRASES = (
    ("帳密", "帳號密碼"),
    ("wi-fi", "wifi"),
    ("e-mail", "email"),
    ("microsoft 365", "office365"),
    ("office 365", "office365"),
    ("o365", "office365"),
    ("m365", "office365"),
    ("help desk", "helpdesk"),
)
_WORDS = {
    "pw": "password",
    "pwd": "password",
    "passwd": "password",
    "pass": "password",
    "passcode": "password",
    "acct": "account",
    "mail": "email",
}
# A word weighs what a two-character Chinese word does: it is ranked three times (as the
# Chinese word's two characters and its pair are) and counts twice in the confidence.
WORD_WEIGHT = 3

_STOP_CHARS = frozenset(
    "我你妳他她的了嗎呢吧啊喔哦耶欸唷呀囉啦嘛是在有要想請問一下個這那怎麼如何可以能會該都就也和跟給把被還什么誰呃恩嗯"
    "哪裡看去好像得過著啥咧吼蛤又再很太超真其ㄧ"
)
_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "me",
        "my",
        "mine",
        "dont",
        "don",
        "know",
        "im",
        "i'm",
        "you",
        "your",
        "u",
        "ur",
        "is",
        "are",
        "am",
        "was",
        "were",
        "be",
        "been",
        "do",
        "does",
        "did",
        "doing",
        "to",
        "of",
        "for",
        "on",
        "in",
        "at",
        "by",
        "with",
        "and",
        "or",
        "but",
        "so",
        "if",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "when",
        "why",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "have",
        "has",
        "had",
        "get",
        "got",
        "need",
        "want",
        "wanna",
        "please",
        "pls",
        "plz",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "any",
        "some",
        "just",
        "about",
        "from",
        "into",
        "as",
        "not",
        "no",
        "yes",
        "ok",
        "okay",
        "still",
        "now",
    ]
)


# English words are reduced to their stem (Snowball), so "linking", "links" and "linked"
# all find "link".
_STEM = Stemmer.Stemmer("english")


@dataclass(frozen=True)
class Tokens:
    """What a text is made of: ``units`` (words, single characters) and every ranked term."""

    units: tuple[str, ...]
    terms: tuple[str, ...]


def words(text: str) -> list[str]:
    """The English words of ``text`` as typed (folded, not stemmed), stop words left out."""
    return [
        word
        for word in _RUNS.findall(prepare(text))
        if word.isascii() and not word.isdigit() and len(word) > 1 and word not in _STOP_WORDS
    ]


def prepare(text: str) -> str:
    """Fold (full-width, case, spacing), unify character variants, spell out shorthand."""
    text = fold(text[: MAX_CHARS * 2])[:MAX_CHARS]
    text = text.translate(_SIMPLIFIED).translate(_VARIANTS)
    for short, long in _PHRASES:
        text = text.replace(short, long)
    return text


def tokenise(text: str, correct: Callable[[str], str] | None = None) -> Tokens:
    """The units and ranked terms of ``text`` (see the module's docstring).

    ``correct`` maps an English word, before stemming, to its spelling-corrected form.
    """
    units: list[str] = []
    terms: list[str] = []
    for run in _RUNS.findall(prepare(text)):
        if run.isascii():
            word = _WORDS.get(run, run)
            if (len(word) < 2 and not word.isdigit()) or word in _STOP_WORDS:
                continue
            word = _STEM.stemWord(correct(word) if correct else word)
            units.append(word)
            terms.extend([word] * WORD_WEIGHT)
            continue
        chars = [ch for ch in run if ch not in _STOP_CHARS]
        units.extend(chars)
        terms.extend(chars)
        terms.extend(run[i : i + 2] for i in range(len(run) - 1))
    return Tokens(tuple(units), tuple(terms))
