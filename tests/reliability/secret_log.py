"""The secrets the suite uses, and everything it logs: for the whole-suite leak scan.

``tests/conftest.py`` installs both at import time:

- ``REGISTRY`` learns every secret the suite hands to the code under test, at the
  boundaries where the code sees them in clear: each national ID or resident
  certificate number and birthday that is hashed (``PiiHasher``), each password that
  is hashed, verified or checked against a policy, each link token issued, each
  6-digit code and link mailed (the mail queue's rows), each alumni card secret, each
  configured secret read from the settings (``SecretStr``: keys, bot tokens, signing
  secrets), and the demo directory's well-known people.
- ``CAPTURE`` is a handler on the root logger that keeps the formatted text of every
  record of every logger at every level, DEBUG included (SQL parameters, HTTP
  libraries' requests, the chat libraries' calls), with the test that was running.
  The suite logs with the redaction every entry point installs
  (``bot.web.install_log_redaction``), so the test's HTTP client, which stands for the
  browser, logs links the way the server's access log would.

- ``subprocess_logs()`` is a folder for this run where ``tests/e2e/conftest.py`` keeps the
  stderr of every ``helpdesk`` subprocess the e2e tests start (they log at DEBUG);
  ``subprocess_records`` reads it back, one record a line, with the test that ran it.

``tests/reliability/test_secrets_in_logs.py`` runs last and scans the capture. A leak
is reported by kind, logger and test, never by value.
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ID_NUMBER = "national ID / resident certificate number"
BIRTHDAY = "birthday"
PASSWORD = "password"
LINK_TOKEN = "one-time link token"
CODE = "6-digit code"
CARD_SECRET = "alumni card secret"
CREDENTIAL = "configured secret (key, bot token, signing secret)"
KINDS = (ID_NUMBER, BIRTHDAY, PASSWORD, LINK_TOKEN, CODE, CARD_SECRET, CREDENTIAL)

# Link tokens in URLs are caught by shape too, whether or not the registry saw them.
TOKEN_IN_URL = re.compile(r"/password/[A-Za-z0-9_-]{32,}")
_ROC_OFFSET = 1911


def _password_worth_registering(password: str) -> bool:
    """Passwords strong enough not to occur in a log line by chance ("password", "1234")."""
    if len(password) < 8 or len(password) > 256:
        return False
    classes = (
        any(ch.isupper() for ch in password),
        any(ch.islower() for ch in password),
        any(ch.isdigit() for ch in password),
        any(not ch.isalnum() for ch in password),
    )
    return sum(classes) >= 3


class SecretRegistry:
    """Secret values by kind; thread-safe (hashing runs in worker threads)."""

    def __init__(self) -> None:
        self._values: dict[str, set[str]] = defaultdict(set)
        self._lock = threading.Lock()

    def add(self, kind: str, value: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind of secret {kind!r}")
        if kind == PASSWORD and not _password_worth_registering(value):
            return
        if not value or (kind == CREDENTIAL and len(value) < 8):
            return
        with self._lock:
            self._values[kind].add(value.upper() if kind == ID_NUMBER else value)

    def add_birthday(self, day: dt.date) -> None:
        """A birthday in the forms a log line could show it."""
        self.add(BIRTHDAY, day.isoformat())
        self.add(BIRTHDAY, day.strftime("%Y%m%d"))
        self.add(BIRTHDAY, day.strftime("%Y/%m/%d"))
        if day.year > _ROC_OFFSET:
            self.add(BIRTHDAY, f"{day.year - _ROC_OFFSET}/{day:%m/%d}")

    def values(self, kind: str) -> set[str]:
        with self._lock:
            return set(self._values[kind])

    def count(self, kind: str) -> int:
        with self._lock:
            return len(self._values[kind])


@dataclass(frozen=True, slots=True)
class Logged:
    test: str
    logger: str
    text: str


class LogCapture(logging.Handler):
    """Keeps the formatted text (with any traceback) of every record it is given."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.setFormatter(logging.Formatter("%(message)s"))
        self.records: list[Logged] = []

    def wants(self, record: logging.LogRecord) -> bool:
        return True  # every level of every logger: DEBUG is where libraries show parameters

    def emit(self, record: logging.LogRecord) -> None:
        if not self.wants(record):
            return
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted cannot leak either
            return
        test = os.environ.get("PYTEST_CURRENT_TEST", "(outside a test)").rsplit(" ", 1)[0]
        self.records.append(Logged(test, record.name, text))


# -- scanning ----------------------------------------------------------------------------

_ID_CANDIDATE = re.compile(r"(?=([A-Za-z][A-Za-z0-9][0-9]{8}))")
# Digits alone count only as a whole word: pseudonyms and hashes in hex are full of runs.
_DATE_CANDIDATE = re.compile(
    r"(?<![0-9])([0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{2,4}/[0-9]{2}/[0-9]{2})(?![0-9])"
    r"|(?<![0-9A-Za-z])([0-9]{8})(?![0-9A-Za-z])"
)
_CODE_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])([0-9]{6})(?![0-9A-Za-z])")
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_-]{32,}")
_BASE32_RUN = re.compile(r"[A-Z2-7]{16,}")


def _windows(runs: Iterable[str], lengths: set[int]) -> Iterator[str]:
    for run in runs:
        for length in lengths:
            for start in range(len(run) - length + 1):
                yield run[start : start + length]


@functools.cache
def _catalogued_examples() -> tuple[str, ...]:
    """The bot's own texts that show an example date ("for example 1996-01-02").

    At DEBUG the chat libraries log every message sent, so a prompt's example date
    would read as the birthday of any test person born that day.
    """
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[2] / "locales"
    texts: set[str] = set()
    for path in root.glob("*/LC_MESSAGES/helpdesk.po"):
        with path.open("rb") as po:
            for message in read_po(po):
                for text in (message.id, message.string):
                    if isinstance(text, str) and "{" not in text and _DATE_CANDIDATE.search(text):
                        texts.add(text)
    return tuple(sorted(texts, key=len, reverse=True))


def _without_examples(text: str) -> str:
    for example in _catalogued_examples():
        text = text.replace(example, "")
    return text


def kinds_in(text: str, registry: SecretRegistry) -> set[str]:
    """The kinds of registered secret that occur in ``text``."""
    found: set[str] = set()
    ids = registry.values(ID_NUMBER)
    if ids and {m.upper() for m in _ID_CANDIDATE.findall(text)} & ids:
        found.add(ID_NUMBER)
    birthdays = registry.values(BIRTHDAY)
    dates = {"".join(groups) for groups in _DATE_CANDIDATE.findall(_without_examples(text))}
    if birthdays and dates & birthdays:
        found.add(BIRTHDAY)
    codes = registry.values(CODE)
    if codes and set(_CODE_CANDIDATE.findall(text)) & codes:
        found.add(CODE)
    if TOKEN_IN_URL.search(text):
        found.add(LINK_TOKEN)
    for kind, run_pattern in ((LINK_TOKEN, _TOKEN_RUN), (CARD_SECRET, _BASE32_RUN)):
        secrets = registry.values(kind)
        if kind in found or not secrets:
            continue
        lengths = {len(secret) for secret in secrets}
        if any(w in secrets for w in _windows(run_pattern.findall(text), lengths)):
            found.add(kind)
    for kind in (PASSWORD, CREDENTIAL):
        if any(secret in text for secret in registry.values(kind)):
            found.add(kind)
    return found


@dataclass(frozen=True, slots=True)
class Leak:
    kind: str
    logger: str
    test: str

    def __str__(self) -> str:
        # Never the value: the report itself is a log a CI keeps.
        return f"a {self.kind} in a record of logger {self.logger!r} during {self.test}"


def find_leaks(records: Iterable[Logged], registry: SecretRegistry) -> list[Leak]:
    leaks: dict[tuple[str, str, str], Leak] = {}
    verdicts: dict[str, set[str]] = {}
    for record in records:
        if record.text not in verdicts:
            verdicts[record.text] = kinds_in(record.text, registry)
        for kind in verdicts[record.text]:
            leaks.setdefault(
                (kind, record.logger, record.test), Leak(kind, record.logger, record.test)
            )
    return sorted(leaks.values(), key=lambda leak: (leak.kind, leak.test, leak.logger))


# -- subprocesses' logs -----------------------------------------------------------------

_subprocess_logs: dict[Path, tuple[str, str]] = {}
_subprocess_lock = threading.Lock()


@functools.cache
def subprocess_logs() -> Path:
    """This run's folder for the subprocesses' logs (private; removed when the run ends)."""
    folder = Path(tempfile.mkdtemp(prefix="helpdesk-subprocess-logs-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def subprocess_log(command: str) -> Path:
    """A new file under ``subprocess_logs()`` for the stderr of one run of ``command``."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "(outside a test)").rsplit(" ", 1)[0]
    with _subprocess_lock:
        path = subprocess_logs() / f"{len(_subprocess_logs):05d}.log"
        _subprocess_logs[path] = (test, command)
    path.touch(mode=0o600)
    return path


def subprocess_records() -> list[Logged]:
    """Every line the subprocesses wrote to their logs, as records of logger
    ``subprocess <command>``."""
    with _subprocess_lock:
        logs = dict(_subprocess_logs)
    records = []
    for path, (test, command) in logs.items():
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        records += [Logged(test, f"subprocess {command}", line) for line in text.splitlines()]
    return records


# -- installation ------------------------------------------------------------------------

REGISTRY = SecretRegistry()
CAPTURE = LogCapture()
_MAILED_TOKEN = re.compile(r"/password/([A-Za-z0-9_-]+)")
_installed = False


def _wrap(owner: Any, name: str, register: Callable[..., None]) -> None:
    """Replace ``owner.name`` by a wrapper that registers its arguments, then calls it."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        register(*args, **kwargs)
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def install() -> None:
    """Hook the registry into the code's secret boundaries and start capturing logs.

    Runs when this module is first imported (``tests/conftest.py`` imports it).
    """
    global _installed
    if _installed:
        return
    _installed = True

    from pydantic import SecretStr
    from sqlalchemy import event

    from core import cards, password_policy, tokens
    from core.demo_data import DEMO_PEOPLE
    from core.models import OutboundMail
    from core.passwords import PasswordHasher
    from core.pii import PiiHasher

    for person in DEMO_PEOPLE:
        REGISTRY.add(ID_NUMBER, person.id_number)
        REGISTRY.add_birthday(person.birthday)
    REGISTRY.add(PASSWORD, "Demo-Passw0rd!")  # bot/cli.py's DEMO_PASSWORD

    _wrap(PiiHasher, "id_number", lambda _self, value: REGISTRY.add(ID_NUMBER, value))
    _wrap(PiiHasher, "birthday", lambda _self, day: REGISTRY.add_birthday(day))
    _wrap(PasswordHasher, "hash_sync", lambda _self, password: REGISTRY.add(PASSWORD, password))
    _wrap(
        PasswordHasher,
        "verify_sync",
        lambda _self, _stored, password: REGISTRY.add(PASSWORD, password),
    )
    original_check = password_policy.check
    _wrap(
        password_policy,
        "check",
        lambda _policy, password, *_a, **_k: REGISTRY.add(PASSWORD, password),
    )
    for module in list(sys.modules.values()):  # modules that bound it by name already
        if getattr(module, "check", None) is original_check:
            module.check = password_policy.check  # type: ignore[attr-defined]
    _wrap(cards.CardCipher, "encrypt", lambda _self, secret: REGISTRY.add(CARD_SECRET, secret))

    _wrap(SecretStr, "get_secret_value", lambda self: REGISTRY.add(CREDENTIAL, self._secret_value))

    original_issue = tokens.issue

    @functools.wraps(original_issue)
    async def issue(*args: Any, **kwargs: Any) -> str:
        token = await original_issue(*args, **kwargs)
        REGISTRY.add(LINK_TOKEN, token)
        return token

    tokens.issue = issue  # type: ignore[assignment]

    @event.listens_for(OutboundMail, "before_insert")
    def _mailed(_mapper: Any, _connection: Any, row: OutboundMail) -> None:
        body = row.body or ""
        for token in _MAILED_TOKEN.findall(body):
            REGISTRY.add(LINK_TOKEN, token)
        for code in _CODE_CANDIDATE.findall(body):
            REGISTRY.add(CODE, code)

    from bot.web import install_log_redaction  # after `check` is wrapped: it imports it

    install_log_redaction()
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)  # the most a deployer can turn on
    root.addHandler(CAPTURE)
    install_log_redaction()  # again: the filter goes on the capture too, as on any root handler


install()
