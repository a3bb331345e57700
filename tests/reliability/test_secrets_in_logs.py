"""Secrets in logs: every record the suite logged, scanned for every secret it used.

The registry and the capture are installed by ``tests/conftest.py`` (see
``tests/reliability/secret_log.py``); the scan runs after every other test of the run.
A failure names the kind of secret, the logger and the test, never the value.
"""

from __future__ import annotations

import datetime as dt
import logging

import httpx
import pytest

from bot.engine import Engine
from bot.services import Services
from core.clock import FakeClock
from tests.chat import Chat
from tests.factories import add_student
from tests.outbox import code_in, outbox, password_link_in
from tests.reliability import secret_log
from tests.reliability.secret_log import (
    BIRTHDAY,
    CARD_SECRET,
    CODE,
    ID_NUMBER,
    LINK_TOKEN,
    PASSWORD,
    LogCapture,
    Logged,
    SecretRegistry,
    find_leaks,
)

ID_NUMBER_VALUE = "F131104093"
BIRTHDAY_VALUE = dt.date(1996, 1, 2)
PASSWORD_VALUE = "Old-Passw0rd!"
TOKEN_VALUE = "Zk3v9Q-secret-token-value_0123456789abcdefg"


def _registry() -> SecretRegistry:
    registry = SecretRegistry()
    registry.add(ID_NUMBER, ID_NUMBER_VALUE)
    registry.add_birthday(BIRTHDAY_VALUE)
    registry.add(PASSWORD, PASSWORD_VALUE)
    registry.add(LINK_TOKEN, TOKEN_VALUE)
    registry.add(CODE, "482913")
    registry.add(CARD_SECRET, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    return registry


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (ID_NUMBER, "lookup for f131104093 failed"),
        (BIRTHDAY, "birthday=1996-01-02"),
        (BIRTHDAY, "typed 85/01/02"),
        (BIRTHDAY, "typed 19960102."),
        (PASSWORD, "form: new_password=Old-Passw0rd!&confirm=x"),
        (LINK_TOKEN, f"GET /reset?t={TOKEN_VALUE} 200"),
        (LINK_TOKEN, "GET /password/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 200"),
        (CODE, "code 482913 sent"),
        (CARD_SECRET, "secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"),
    ],
)
def test_the_leak_scan_names_the_kind_of_a_leaked_secret_and_never_its_value(
    kind: str, text: str
) -> None:
    leaks = find_leaks([Logged("tests/x.py::test_y", "bot.engine", text)], _registry())
    assert [leak.kind for leak in leaks] == [kind]
    report = str(leaks[0])
    assert kind in report and "bot.engine" in report and "tests/x.py::test_y" in report
    for secret in (ID_NUMBER_VALUE, "1996-01-02", PASSWORD_VALUE, TOKEN_VALUE, "482913"):
        assert secret not in report


@pytest.mark.parametrize(
    "text",
    [
        "step channel=test actor=5f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5 flow=link state=code version=3",
        "GET /password/[redacted]?lang=en 200",
        "link sent to a2******01@grad.demo.edu.tw",
        "mail 12 not sent (attempt 2): SMTPConnectError",
        "card verification: valid",
        "update 1482913 handled at 2026-09-01",
        "step channel=test actor=3e91f3482913b53d19960102c25134137d flow=None",
    ],
)
def test_the_leak_scan_passes_what_a_log_line_may_say(text: str) -> None:
    assert find_leaks([Logged("t", "bot.engine", text)], _registry()) == []


def test_a_record_logged_through_the_logging_machinery_is_scanned() -> None:
    capture = LogCapture()
    probe = logging.getLogger("bot.leak_probe")
    probe.propagate = False  # keep the planted leak out of the suite's own capture
    probe.addHandler(capture)
    try:
        probe.debug("harmless")
        probe.warning("failed for %s", ID_NUMBER_VALUE)
        try:
            raise ValueError(f"bad code {'482913'}")
        except ValueError:
            probe.exception("with a traceback")
    finally:
        probe.removeHandler(capture)
        probe.propagate = True
    kinds = sorted(leak.kind for leak in find_leaks(capture.records, _registry()))
    assert kinds == sorted([ID_NUMBER, CODE])
    assert capture.records[0].text == "harmless"  # the project's DEBUG records are kept


def test_the_suite_capture_keeps_every_level_of_every_logger() -> None:
    before = len(secret_log.CAPTURE.records)
    logging.getLogger("bot.capture_probe").debug("project debug probe")
    logging.getLogger("some.library").info("library info probe")
    logging.getLogger("some.library").debug("library debug probe")
    texts = [record.text for record in secret_log.CAPTURE.records[before:]]
    assert texts == ["project debug probe", "library info probe", "library debug probe"]


async def test_the_registry_learns_the_secrets_a_flow_handles(
    engine: Engine, services: Services, clock: FakeClock
) -> None:
    await add_student(
        services,
        id_number=ID_NUMBER_VALUE,
        birthday=BIRTHDAY_VALUE,
        student_id="211300001",
        with_account=True,
        password=PASSWORD_VALUE,
    )
    chat = Chat(engine, user="registry-probe")
    await chat.say("/start")
    await chat.press("I forgot my password")
    await chat.say("211300001")
    await chat.say(ID_NUMBER_VALUE)
    clock.advance(minutes=2)  # mails to one address are spaced a minute apart
    await chat.say("/start")
    await chat.press("Link this chat to my account")
    await chat.say("211300001")
    reset, linking = await outbox(services)
    token = password_link_in(reset.body).rpartition("/")[2]
    code = code_in(linking.body)
    registry = secret_log.REGISTRY
    assert ID_NUMBER_VALUE in registry.values(ID_NUMBER)
    assert "1996-01-02" in registry.values(BIRTHDAY)
    assert PASSWORD_VALUE in registry.values(PASSWORD)
    assert token in registry.values(LINK_TOKEN)
    assert code in registry.values(CODE)


def test_a_subprocess_log_is_read_back_line_by_line_with_its_test_and_command() -> None:
    log = secret_log.subprocess_log("helpdesk probe")
    log.write_text("first probe line\nsecond probe line\n", encoding="utf-8")
    mine = [r for r in secret_log.subprocess_records() if r.logger == "subprocess helpdesk probe"]
    assert [r.text for r in mine] == ["first probe line", "second probe line"]
    assert all(
        r.test.endswith("test_a_subprocess_log_is_read_back_line_by_line_with_its_test_and_command")
        for r in mine
    )


def test_no_secret_the_suite_used_appears_in_its_logs() -> None:
    """Runs last: the logs of every test before it (and of the ``helpdesk``
    subprocesses the e2e tests ran, at DEBUG), against every secret they used."""
    registry = secret_log.REGISTRY
    # The demo directory's people are always registered; the rest when their tests ran.
    assert registry.count(ID_NUMBER) > 0 and registry.count(BIRTHDAY) > 0
    assert registry.count(PASSWORD) > 0
    records = [*secret_log.CAPTURE.records, *secret_log.subprocess_records()]
    leaks = find_leaks(records, registry)
    assert not leaks, f"{len(leaks)} leak(s) of secrets into logs:\n" + "\n".join(map(str, leaks))


test_no_secret_the_suite_used_appears_in_its_logs.runs_last = True  # type: ignore[attr-defined]


def test_a_request_line_logged_with_a_url_object_hides_the_link_token() -> None:
    """httpx logs its request lines with an ``httpx.URL`` argument, not a string."""
    before = len(secret_log.CAPTURE.records)
    url = httpx.URL(f"http://127.0.0.1/password/{TOKEN_VALUE}?lang=en")
    logging.getLogger("httpx").info(
        'HTTP Request: %s %s "%s %d %s"', "GET", url, "HTTP/1.1", 200, "OK"
    )
    (logged,) = secret_log.CAPTURE.records[before:]
    assert TOKEN_VALUE not in logged.text
    assert (
        logged.text
        == 'HTTP Request: GET http://127.0.0.1/password/[redacted]?lang=en "HTTP/1.1 200 OK"'
    )
