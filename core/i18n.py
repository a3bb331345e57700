"""Message catalogs: one translator per user, never a process-wide language.

The catalogs live in ``locales/<locale>/LC_MESSAGES/helpdesk.po`` with English
msgids, managed with Babel (``make catalogs``). A compiled ``.mo`` is used when it
is at least as new as its ``.po``; otherwise the ``.po`` is compiled in memory, so a
fresh checkout speaks both languages before anyone runs ``make``.
"""

from __future__ import annotations

import io
from functools import cache
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from core.resources import data_dir

DOMAIN = "helpdesk"
LOCALES = ("zh_TW", "en")
DEFAULT_LOCALE = "zh_TW"


def N_(message: str) -> str:
    """Mark a msgid for extraction; it is translated later, per user."""
    return message


def normalise_locale(hint: str | None) -> str | None:
    """Map a platform language tag to a catalog: zh, zh-TW, zh-Hant, zh-HK → zh_TW."""
    if not hint:
        return None
    tag = hint.strip().replace("_", "-").lower()
    if tag.startswith("zh"):
        return "zh_TW"
    if tag.startswith("en"):
        return "en"
    return None


@cache
def translations(locale: str) -> NullTranslations:
    if locale not in LOCALES:
        raise ValueError(f"no catalog for locale {locale!r}")
    folder = data_dir("locales") / locale / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return Translations(handle, domain=DOMAIN)
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


class Translator:
    """Translate and format for one locale: ``_("Hello {name}", name=...)``."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self._t = translations(locale)

    def _(self, msgid: str, **params: Any) -> str:
        text = self._t.gettext(msgid)
        return text.format(**params) if params else text

    def ngettext(self, singular: str, plural: str, n: int, **params: Any) -> str:
        return self._t.ngettext(singular, plural, n).format(n=n, **params)
