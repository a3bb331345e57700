"""FAQ answers: one Markdown file per answer and language, with TOML front matter.

A profile's answers live in ``core/profiles/faq/<profile>/``, named
``<anything>.<locale>.md`` (``eduroam.zh_TW.md``, ``eduroam.en.md``)::

    +++
    id = "eduroam"
    title = "Connecting to eduroam"
    examples = ["how do I connect to eduroam", "eduroam keeps asking for a password"]
    keywords = ["eduroam", "wifi"]
    +++
    The answer, in Markdown.

Every answer must exist in every language the bot speaks, under the same ``id``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError

from core.i18n import LOCALES
from core.localized import Strict
from core.resources import profiles_dir

_NAME = re.compile(r"^(?P<stem>[^.]+)\.(?P<locale>[A-Za-z_]+)\.md$")
_FRONT = re.compile(
    r"\A\+\+\+[ \t]*\r?\n(?P<front>.*?)^\+\+\+[ \t]*\r?\n?(?P<body>.*)\Z", re.S | re.M
)


class FrontMatter(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]
    title: Annotated[str, Field(min_length=1, max_length=80)]
    examples: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    keywords: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)


@dataclass(frozen=True)
class FaqEntry:
    """One answer in one language."""

    id: str
    locale: str
    title: str
    examples: tuple[str, ...]
    keywords: tuple[str, ...]
    body: str
    path: Path


@dataclass(frozen=True)
class Problem:
    """Something wrong in an FAQ folder, for the staff who write it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def faq_folder(profile: str) -> Path:
    """Where a shipped profile's answers are (the folder may not exist)."""
    return profiles_dir() / "faq" / profile


def read_entry(path: Path) -> FaqEntry | Problem:
    """One answer file, or what is wrong with it."""
    name = _NAME.match(path.name)
    if name is None or name["locale"] not in LOCALES:
        return Problem(str(path), f"name it <id>.<locale>.md with a locale of {', '.join(LOCALES)}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return Problem(str(path), "not UTF-8 text")
    parts = _FRONT.match(text)
    if parts is None:
        return Problem(str(path), "no front matter: start the file with +++, TOML, +++")
    try:
        front = FrontMatter.model_validate(tomllib.loads(parts["front"]))
    except tomllib.TOMLDecodeError as exc:
        return Problem(str(path), f"front matter is not valid TOML: {exc}")
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "-"
        return Problem(str(path), f"front matter field '{field}': {first['msg']}")
    body = parts["body"].strip()
    if not body:
        return Problem(str(path), "the answer (after the front matter) is empty")
    return FaqEntry(
        id=front.id,
        locale=name["locale"],
        title=front.title,
        examples=tuple(front.examples),
        keywords=tuple(front.keywords),
        body=body,
        path=path,
    )


def read_folder(folder: Path) -> tuple[list[FaqEntry], list[Problem]]:
    """Every answer file in ``folder`` (sorted by name), and the problems of the others."""
    entries: list[FaqEntry] = []
    problems: list[Problem] = []
    if not folder.is_dir():
        return entries, problems
    for path in sorted(folder.glob("*.md")):
        read = read_entry(path)
        if isinstance(read, FaqEntry):
            entries.append(read)
        else:
            problems.append(read)
    return entries, problems
