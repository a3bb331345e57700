"""The zh_TW and en catalogs: complete, placeholders intact, in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from core.i18n import Translator

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ("zh_TW", "en")
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def load(locale: str) -> Catalog:
    with (ROOT / "locales" / locale / "LC_MESSAGES" / "helpdesk.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def msgids_in_code() -> set[str]:
    found: set[str] = set()
    for folder in ("core", "bot"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("locale", LOCALES)
def test_every_msgid_is_translated(locale: str) -> None:
    missing = [m.id for m in load(locale) if m.id and (not m.string or "fuzzy" in m.flags)]
    assert missing == []


@pytest.mark.parametrize("locale", LOCALES)
def test_every_translation_keeps_the_placeholders_of_its_msgid(locale: str) -> None:
    wrong = []
    for message in load(locale):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set(PLACEHOLDER.findall(ids[0]))
        wrong += [message.id for s in strings if set(PLACEHOLDER.findall(s)) != expected]
    assert wrong == []


@pytest.mark.parametrize("locale", LOCALES)
def test_every_msgid_in_the_code_is_in_the_catalog(locale: str) -> None:
    in_catalog = {m.id if isinstance(m.id, str) else m.id[0] for m in load(locale) if m.id}
    assert msgids_in_code() - in_catalog == set()


def test_zh_tw_uses_taiwanese_terms_not_mainland_ones() -> None:
    text = "\n".join(str(m.string) for m in load("zh_TW") if m.id)
    for mainland in ("身份证", "学号", "邮箱", "信息", "账号", "用户", "默认"):
        assert mainland not in text


def test_a_translator_speaks_the_users_language() -> None:
    assert Translator("zh_TW")._("Cancelled. Nothing was changed.") == "已取消，沒有做任何變更。"
    assert Translator("en")._("Your student ID is {student_id}.", student_id="1") == (
        "Your student ID is 1."
    )
