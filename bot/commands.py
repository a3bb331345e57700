"""Commands a user may send at any point, in either language."""

from __future__ import annotations

from core.i18n import N_
from core.text import fold

START = "start"
HELP = "help"
CANCEL = "cancel"
LANGUAGE = "language"
UNLINK = "unlink"
ASK = "ask"

HELP_TEXT = N_(
    "You can send these at any time:\n"
    "/menu – show what I can do\n"
    "/cancel – stop the current conversation; nothing is changed\n"
    "/language – 中文 or English\n"
    "/unlink – unlink this chat from your account\n"
    "/ask – ask a question in your own words (or just type it at the menu)\n"
    "/help – this help\n"
    "Never send a password in this chat: I will only ever send you a link to a page "
    "where you set it."
)

_WORDS = {
    START: ("start", "menu", "開始", "選單", "主選單"),
    HELP: ("help", "說明", "幫助", "求助"),
    CANCEL: ("cancel", "stop", "取消", "結束"),
    LANGUAGE: ("language", "lang", "語言"),
    UNLINK: ("unlink", "取消連結"),
    ASK: ("ask", "問", "提問"),
}
_LOOKUP = {word: command for command, words in _WORDS.items() for word in words}
_LANGUAGE_ARGS = {
    "en": "en",
    "english": "en",
    "英文": "en",
    "zh": "zh_TW",
    "zh-tw": "zh_TW",
    "zh_tw": "zh_TW",
    "中文": "zh_TW",
    "繁體中文": "zh_TW",
}


def parse(text: str) -> str | None:
    """Return the command a message is, as a global choice value, or None.

    ``/language en`` picks a language directly; a command may carry Telegram's
    ``@botname`` suffix.
    """
    folded = fold(text)
    if not folded:
        return None
    word, _, arg = folded.partition(" ")
    word = word.removeprefix("/").split("@", 1)[0]
    command = _LOOKUP.get(word)
    if command is None:
        return None
    if command == LANGUAGE and arg:
        code = _LANGUAGE_ARGS.get(arg.strip())
        return f"lang:{code}" if code else f"cmd:{LANGUAGE}"
    if command == ASK:
        # Only the slash form takes a question: "問" alone may start a sentence.
        if not text.strip().startswith("/") and arg:
            return None
        return f"ask:{arg.strip()}"
    if arg:
        return None
    if command == UNLINK:
        return f"flow:{UNLINK}"
    return f"cmd:{command}"
