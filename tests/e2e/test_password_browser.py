"""The password page in a real browser: Debian's headless Chromium driven by Playwright.

The live checklist (bot/web/static/password.js) reacts to typing, the form submits, and the
page still works with JavaScript off. Debian's chromium is used, not Playwright's own
download; .ci/run installs it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright, expect
from sqlalchemy import select, update

from bot.services import Services
from bot.web import create_app
from core.models import Account, Mailbox
from tests.factories import LIN_STUDENT_ID, add_lin, password_link
from tests.live import serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
SCREENSHOT = Path("/tmp/password_page.png")

OLD = "Old-Passw0rd!"
NEW = "Blue-Harbor-Lantern-42"
STUDENT_ID = LIN_STUDENT_ID
MASKED = "21*****01"

MET = re.compile(r"(^|\s)met(\s|$)")
UNMET = re.compile(r"(^|\s)unmet(\s|$)")


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium (.ci/run)")
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    return CHROMIUM


@pytest.fixture
async def base_url(services: Services) -> AsyncIterator[str]:
    """The web app on loopback HTTP, for the browser."""
    async with serving(create_app(services)) as url:
        yield url


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=30_000,
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def link(services: Services, base_url: str) -> str:
    """A reset link for a student whose account has the password ``OLD``."""
    await add_lin(services, with_account=True, password=OLD)
    return f"{base_url}/password/{await password_link(services, STUDENT_ID)}"


def _item(page: Page, *, kind: str | None = None, code: str | None = None) -> Locator:
    """Checklist items whose data-rule (JSON) has this kind or code."""
    key, value = ("code", code) if code is not None else ("kind", kind)
    return page.locator(f'#checklist li[data-rule*=\'"{key}": "{value}"\']')


async def _rules(page: Page) -> list[tuple[dict[str, object], str]]:
    """Every checklist item's rule and class, in order."""
    raw = await page.eval_on_selector_all(
        "#checklist li[data-rule]", "items => items.map(i => [i.dataset.rule, i.className])"
    )
    return [(json.loads(rule), classes) for rule, classes in raw]


async def _stored_hash(services: Services) -> str:
    async with services.sessions() as session:
        account = await session.scalar(select(Account).where(Account.username == STUDENT_ID))
    assert account is not None
    return account.password_hash


async def test_the_checklist_reacts_to_typing_and_the_form_sets_a_password_that_verifies(
    browser: Browser, link: str, services: Services
) -> None:
    context = await browser.new_context(locale="en-US", viewport={"width": 800, "height": 900})
    try:
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        response = await page.goto(link)
        assert response is not None and response.status == 200
        await expect(page.locator("#account")).to_have_text(MASKED, timeout=TIMEOUT_MS)

        length = page.locator("#checklist li", has_text="At least 8 characters")
        classes = _item(page, kind="class")
        match = _item(page, kind="match")
        await expect(length).to_have_count(1, timeout=TIMEOUT_MS)
        await expect(classes).to_have_count(4, timeout=TIMEOUT_MS)  # upper, lower, digit, special
        # Before typing, nothing is judged.
        assert all(cls == "" for _, cls in await _rules(page))

        await page.locator("#new_password").press_sequentially("Ab1-", delay=10)
        await expect(length).to_have_class(UNMET, timeout=TIMEOUT_MS)
        await expect(page.locator("#strength")).to_have_text("Strength: Weak", timeout=TIMEOUT_MS)
        await expect(_item(page, code="too_weak")).to_have_class(UNMET, timeout=TIMEOUT_MS)
        await expect(match).to_have_class(UNMET, timeout=TIMEOUT_MS)

        await page.locator("#new_password").fill(NEW)
        await expect(length).to_have_class(MET, timeout=TIMEOUT_MS)
        for index in range(4):
            await expect(classes.nth(index)).to_have_class(MET, timeout=TIMEOUT_MS)
        await expect(match).to_have_class(UNMET, timeout=TIMEOUT_MS)

        await page.locator("#confirm_password").press_sequentially(NEW, delay=5)
        await expect(match).to_have_class(MET, timeout=TIMEOUT_MS)
        # What only the server can judge (common list, strength, personal data, history)
        # stays unmarked in the browser.
        # NTHU's meter (the demo profile asks for GOOD or STRONG) reads the server's score.
        await expect(page.locator("#strength")).to_have_text(
            re.compile(r"^Strength: (Good|Strong)$"), timeout=TIMEOUT_MS
        )
        await expect(_item(page, code="too_weak")).to_have_class(MET, timeout=TIMEOUT_MS)
        for rule, cls in await _rules(page):
            if rule["kind"] == "server" and rule["code"] != "too_weak":
                assert cls == "", rule
            else:
                assert cls == "met", rule
        await page.screenshot(path=str(SCREENSHOT), full_page=True)

        await page.locator("#submit").click()
        await expect(page.locator("#done")).to_have_text("Password changed", timeout=TIMEOUT_MS)
        await expect(page.locator("main")).to_contain_text(
            "takes effect within 10 minutes", timeout=TIMEOUT_MS
        )
    finally:
        await context.close()

    stored = await _stored_hash(services)
    assert services.passwords.verify_sync(stored, NEW)
    assert not services.passwords.verify_sync(stored, OLD)


async def test_without_javascript_the_server_marks_unmet_rules_and_then_accepts_a_good_password(
    browser: Browser, link: str, services: Services
) -> None:
    context = await browser.new_context(locale="en-US", java_script_enabled=False)
    try:
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        response = await page.goto(link)
        assert response is not None and response.status == 200
        await expect(page.locator("#account")).to_have_text(MASKED, timeout=TIMEOUT_MS)

        await page.locator("#new_password").fill("short")
        await page.locator("#confirm_password").fill("short")
        async with page.expect_response(link) as refused_info:
            await page.locator("#submit").click()
        refused = await refused_info.value
        assert refused.status == 422
        await expect(page.locator("#errors")).to_contain_text(
            "The password is too short", timeout=TIMEOUT_MS
        )
        length = page.locator("#checklist li", has_text="At least 8 characters")
        await expect(length).to_have_class(UNMET, timeout=TIMEOUT_MS)
        await expect(_item(page, code="missing_upper")).to_have_class(UNMET, timeout=TIMEOUT_MS)
        await expect(_item(page, code="missing_lower")).to_have_class(MET, timeout=TIMEOUT_MS)
        assert services.passwords.verify_sync(await _stored_hash(services), OLD)

        await page.locator("#new_password").fill(NEW)
        await page.locator("#confirm_password").fill(NEW)
        await page.locator("#submit").click()
        await expect(page.locator("#done")).to_have_text("Password changed", timeout=TIMEOUT_MS)
    finally:
        await context.close()

    assert services.passwords.verify_sync(await _stored_hash(services), NEW)


MAILBOX = "a211300001@grad.demo.edu.tw"
NOTICE = "\n".join(["疑似異常登入，暫停信箱帳號。Unusual sign-ins; the mailbox is suspended."] * 40)


async def _suspended_mailbox_link(services: Services, locale: str) -> str:
    await add_lin(services, with_account=True, password=OLD)
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(Mailbox).values(
                condition="suspended",
                suspension_notice=NOTICE,
                notification_address="lin@example.org",
                password_hash=services.passwords.hash_sync(OLD),
                # A suspended mailbox has had a password: the page says "changed", not "set".
                password_changed_at=services.clock.now() - dt.timedelta(days=100),
            )
        )
    return await password_link(services, MAILBOX, locale=locale)


@pytest.mark.parametrize(
    ("locale", "acknowledge", "form_heading", "done"),
    [
        ("zh_TW", "我已閱讀上述公告，前往設定密碼", "設定您的密碼", "密碼已變更"),
        (
            "en",
            "I have read the notice above; set my password",
            "Set your password",
            "Password changed",
        ),
    ],
    ids=["zh-TW", "en"],
)
async def test_a_suspended_mailbox_reads_the_notice_then_sets_a_password_in_its_language(
    browser: Browser,
    base_url: str,
    services: Services,
    locale: str,
    acknowledge: str,
    form_heading: str,
    done: str,
) -> None:
    token = await _suspended_mailbox_link(services, locale)
    context = await browser.new_context(locale="en-US" if locale == "en" else "zh-TW")
    try:
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        response = await page.goto(f"{base_url}/password/{token}")
        assert response is not None and response.status == 200
        button = page.locator("#acknowledge")
        await expect(button).to_have_text(acknowledge, timeout=TIMEOUT_MS)
        await expect(button).to_be_disabled(timeout=TIMEOUT_MS)  # not read to the end yet
        await page.locator("#notice").evaluate("box => { box.scrollTop = box.scrollHeight; }")
        await expect(button).to_be_enabled(timeout=TIMEOUT_MS)
        await button.click()

        await expect(page).to_have_url(re.compile(rf"/password/{token}\?lang="))
        await expect(page.locator("h1").first).to_have_text(form_heading, timeout=TIMEOUT_MS)
        await page.locator("#new_password").fill(NEW)
        await page.locator("#confirm_password").fill(NEW)
        await page.locator("#submit").click()
        await expect(page.locator("#done")).to_have_text(done, timeout=TIMEOUT_MS)
    finally:
        await context.close()

    async with services.sessions() as session:
        mailbox = await session.scalar(select(Mailbox).where(Mailbox.address == MAILBOX))
    assert mailbox is not None and mailbox.password_hash is not None
    assert services.passwords.verify_sync(mailbox.password_hash, NEW)
