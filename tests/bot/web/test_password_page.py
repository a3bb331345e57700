"""The password page a link opens: GET looks, POST consumes; policy, CSRF, headers, races."""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from bot.engine import Engine
from bot.services import Services, build_services
from bot.web import create_app
from core import tokens
from core.clock import FakeClock
from core.models import Account, ChatNotice, Mailbox, OneTimeToken, OutboundMail
from core.settings import Settings
from tests.chat import Chat
from tests.factories import LIN_STUDENT_ID, add_lin, password_link

OLD = "Old-Passw0rd!"
NEW = "Blue-Harbor-Lantern-42"


@pytest.fixture
async def account(services: Services) -> str:
    await add_lin(services, with_account=True, password=OLD)
    return LIN_STUDENT_ID


async def _submit(
    client: httpx.AsyncClient,
    token: str,
    new: str,
    confirm: str | None = None,
    current: str | None = None,
) -> httpx.Response:
    page = await client.get(f"/password/{token}")
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"csrf": csrf.group(1), "new_password": new, "confirm_password": confirm or new}
    if current is not None:
        form["current_password"] = current
    return await client.post(f"/password/{token}", data=form)


async def _hash(services: Services, name: str) -> str:
    async with services.sessions() as session:
        row = await session.scalar(select(Account).where(Account.username == name))
        assert row is not None
        return row.password_hash


async def test_the_page_sets_a_password_that_then_verifies(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    token = await password_link(services, account)
    done = await _submit(client, token, NEW)
    assert done.status_code == 200
    assert "Password changed" in done.text
    assert "takes effect within 10 minutes" in done.text
    stored = await _hash(services, account)
    assert services.passwords.verify_sync(stored, NEW)
    assert not services.passwords.verify_sync(stored, OLD)


async def test_after_success_a_mail_and_a_chat_notice_are_queued(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    await _submit(client, await password_link(services, account), NEW)
    async with services.sessions() as session:
        mails = (await session.scalars(select(OutboundMail))).all()
        notices = (await session.scalars(select(ChatNotice))).all()
    assert [m.to_address for m in mails] == ["a211300001@grad.demo.edu.tw"]
    assert "If this was not you" in mails[0].body and NEW not in mails[0].body
    assert [(n.channel, n.chat_id) for n in notices] == [("test", "alice")]


async def test_opening_the_link_does_not_use_it_but_submitting_does(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    token = await password_link(services, account)
    for _ in range(3):  # a mail scanner, a preview, the user
        assert (await client.get(f"/password/{token}")).status_code == 200
    assert (await _submit(client, token, NEW)).status_code == 200
    again = await client.get(f"/password/{token}")
    assert again.status_code == 410
    assert "This link no longer works" in again.text and "/menu" in again.text


async def test_unknown_and_expired_links_get_a_page_that_offers_to_start_again(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, account: str
) -> None:
    unknown = await client.get("/password/not-a-token", headers={"Accept-Language": "zh-TW"})
    assert unknown.status_code == 410 and "此連結已失效" in unknown.text
    token = await password_link(services, account)
    clock.advance(minutes=16)
    response = await client.get(f"/password/{token}")
    assert response.status_code == 410 and "send /menu" in response.text


async def test_a_password_against_the_policy_is_refused_and_the_link_still_works(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    token = await password_link(services, account)
    refused = await _submit(client, token, "short")
    assert refused.status_code == 422
    assert "unmet" in refused.text
    assert services.passwords.verify_sync(await _hash(services, account), OLD)
    assert (await _submit(client, token, NEW)).status_code == 200


async def test_mismatched_confirmation_is_refused(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    token = await password_link(services, account)
    response = await _submit(client, token, NEW, confirm=NEW + "x")
    assert response.status_code == 422 and "not the same" in response.text


async def test_the_current_password_cannot_be_reused(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    token = await password_link(services, account)
    response = await _submit(client, token, OLD)
    assert response.status_code == 422


async def test_change_mode_asks_for_the_current_password_first(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    token = await password_link(services, account, purpose=tokens.Purpose.CHANGE)
    assert 'name="current_password"' in (await client.get(f"/password/{token}")).text
    wrong = await _submit(client, token, NEW, current="wrong")
    assert wrong.status_code == 422 and "current password is not right" in wrong.text
    right = await _submit(client, token, NEW, current=OLD)
    assert right.status_code == 200


async def test_a_post_without_the_csrf_cookie_is_refused(services: Services, account: str) -> None:
    token = await password_link(services, account)
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as fresh:
        response = await fresh.post(
            f"/password/{token}",
            data={"csrf": "guess", "new_password": NEW, "confirm_password": NEW},
        )
    assert response.status_code == 403
    assert services.passwords.verify_sync(await _hash(services, account), OLD)


async def test_pages_send_the_security_headers(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    response = await client.get(f"/password/{await password_link(services, account)}")
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "samesite=strict" in response.headers["set-cookie"].lower()


async def test_a_password_change_ends_the_accounts_other_links(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    first, second = await password_link(services, account), await password_link(services, account)
    assert (await _submit(client, first, NEW)).status_code == 200
    assert (await client.get(f"/password/{second}")).status_code == 410
    async with services.sessions() as session:
        live = (
            await session.scalars(select(OneTimeToken).where(OneTimeToken.used_at.is_(None)))
        ).all()
    assert live == []


async def test_the_page_speaks_the_users_language_with_a_switch(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    token = await password_link(services, account)
    english = await client.get(f"/password/{token}")
    assert "Set your password" in english.text and 'href="?lang=zh-TW"' in english.text
    chinese = await client.get(f"/password/{token}?lang=zh-TW")
    assert "設定密碼" in chinese.text


async def test_a_suspended_mailbox_shows_the_notice_before_the_form(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(Mailbox).values(
                condition="suspended",
                suspension_notice="疑似異常登入，暫停信箱帳號。",
                notification_address="lin@example.org",
            )
        )
    token = await password_link(services, "a211300001@grad.demo.edu.tw")
    notice = await client.get(f"/password/{token}")
    assert "疑似異常登入" in notice.text and 'name="new_password"' not in notice.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', notice.text)
    assert csrf is not None
    # Submitting the password form before acknowledging shows the notice again.
    skipped = await client.post(
        f"/password/{token}",
        data={"csrf": csrf.group(1), "new_password": NEW, "confirm_password": NEW},
    )
    assert "疑似異常登入" in skipped.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', skipped.text)
    assert csrf is not None
    ack = await client.post(f"/password/{token}/ack", data={"csrf": csrf.group(1), "read": "yes"})
    assert ack.status_code == 303
    form = await client.get(f"/password/{token}")
    assert 'name="new_password"' in form.text
    assert (await _submit(client, token, NEW)).status_code == 200
    async with services.sessions() as session:
        mailbox = await session.scalar(select(Mailbox))
    assert mailbox is not None and mailbox.password_hash is not None
    assert services.passwords.verify_sync(mailbox.password_hash, NEW)


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"), reason="the race is about PostgreSQL row locks"
)
async def test_twenty_concurrent_submissions_of_one_link_succeed_exactly_once(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    token = await password_link(services, account)
    page = await client.get(f"/password/{token}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"csrf": csrf.group(1), "confirm_password": ""}

    async def submit(n: int) -> int:
        password = f"{NEW}-{n}"
        response = await client.post(
            f"/password/{token}",
            data={**form, "new_password": password, "confirm_password": password},
        )
        return response.status_code

    statuses = await asyncio.gather(*(submit(n) for n in range(20)))
    assert sorted(statuses).count(200) == 1
    # The others find the link used (410) or the account's submissions paused (429).
    assert statuses.count(410) + statuses.count(429) == 19
    stored = await _hash(services, account)
    winners = [n for n in range(20) if services.passwords.verify_sync(stored, f"{NEW}-{n}")]
    assert len(winners) == 1


async def test_every_kind_of_failed_submission_counts_and_the_fifth_ends_the_link(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    token = await password_link(services, account)
    failures = [
        ("short", None),  # against the policy
        (NEW, NEW + "x"),  # confirmation differs
        (OLD, None),  # the current password again
        ("short", None),
    ]
    for new, confirm in failures:
        assert (await _submit(client, token, new, confirm=confirm)).status_code == 422
    fifth = await _submit(client, token, NEW, confirm=NEW + "y")
    assert fifth.status_code == 410 and "This link no longer works" in fifth.text
    assert (await client.get(f"/password/{token}")).status_code == 410
    assert services.passwords.verify_sync(await _hash(services, account), OLD)


async def test_racing_submissions_cannot_try_more_current_passwords_than_the_link_allows(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    token = await password_link(services, account, purpose=tokens.Purpose.CHANGE)
    page = await client.get(f"/password/{token}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"csrf": csrf.group(1), "new_password": NEW, "confirm_password": NEW}

    async def guess(current: str) -> int:
        response = await client.post(
            f"/password/{token}", data={**form, "current_password": current}
        )
        return response.status_code

    statuses = await asyncio.gather(*(guess(f"guess-{n}") for n in range(12)))
    # Tried and refused (422) at most five times; the rest were refused untried:
    # the link ended (410) or the account's submissions paused (429).
    tried = [s for s in statuses if s not in (410, 429)]
    assert tried and len(tried) <= 5 and set(tried) == {422}
    # The right current password, after the race, comes too late.
    assert await guess(OLD) in (410, 429)
    assert services.passwords.verify_sync(await _hash(services, account), OLD)


async def test_a_new_mailboxs_first_password_is_set_not_changed(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    token = await password_link(services, "a211300001@grad.demo.edu.tw")
    async with services.sessions() as session:
        mailbox = await session.scalar(select(Mailbox))
    assert mailbox is not None and mailbox.password_hash is None
    done = await _submit(client, token, NEW)
    assert done.status_code == 200
    assert "Password set" in done.text and "Password changed" not in done.text


async def test_hammering_one_link_does_not_slow_another_chats_turns(
    settings: Settings, clock: FakeClock
) -> None:
    # The deployed argon2 cost (the suite's is the cheapest allowed), so that work held
    # inside a transaction would show.
    heavy = settings.model_copy(update={"argon2_time_cost": 3, "argon2_memory_kib": 65536})
    services = build_services(heavy, clock=clock)
    try:
        await _hammer_and_time(services)
    finally:
        await services.close()


async def _hammer_and_time(services: Services) -> None:
    transport = httpx.ASGITransport(app=create_app(services))
    # The account's password passes the policy, so each hammering submission of it
    # reaches the slowest refusal there is: argon2 against the history.
    await add_lin(services, with_account=True, password=NEW)
    token = await password_link(services, LIN_STUDENT_ID)
    other = Chat(Engine(services), user="bob")

    async def median_turn() -> float:
        times = []
        for _ in range(15):
            started = time.perf_counter()
            await other.say("/help")
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    unloaded = await median_turn()
    stop = asyncio.Event()

    async def hammer() -> None:
        # Each refusal sets a new CSRF cookie; the next submission uses it, as a browser would.
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as own:
            while not stop.is_set():
                page = await own.get(f"/password/{token}")
                found = re.search(r'name="csrf" value="([^"]+)"', page.text)
                form = {"new_password": NEW, "confirm_password": NEW}
                await own.post(
                    f"/password/{token}", data={**form, "csrf": found.group(1) if found else ""}
                )

    hammers = [asyncio.create_task(hammer()) for _ in range(4)]
    await asyncio.sleep(0.3)  # the hammering under way
    try:
        loaded = await median_turn()
    finally:
        stop.set()
        await asyncio.gather(*hammers)
    # Generous for a shared machine: a held write lock made turns many times slower.
    assert loaded < 4 * unloaded + 0.05, (unloaded, loaded)


class _ProbingHasher:
    """The real hasher, but before each hash or verification another chat takes a turn."""

    def __init__(self, inner: Any, probe: Callable[[], Awaitable[None]]) -> None:
        self.inner = inner
        self.probe = probe

    async def verify(self, stored: str, password: str) -> bool:
        await self.probe()
        return bool(await self.inner.verify(stored, password))

    async def hash(self, password: str) -> str:
        await self.probe()
        return str(await self.inner.hash(password))

    async def matches_any(self, hashes: Sequence[str], password: str) -> bool:
        await self.probe()
        return bool(await self.inner.matches_any(hashes, password))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize("purpose", [tokens.Purpose.RESET, tokens.Purpose.CHANGE])
async def test_another_chat_can_take_a_turn_while_the_page_hashes(
    client: httpx.AsyncClient,
    services: Services,
    engine: Engine,
    account: str,
    purpose: tokens.Purpose,
) -> None:
    other = Chat(engine, user="bob")
    turns: list[float] = []

    async def probe() -> None:
        started = time.perf_counter()
        # A transaction held around the hashing would make this wait for the lock
        # (SQLite's single writer) until the hashing ended, which waits for it.
        async with asyncio.timeout(5):
            await other.say("/help")
        turns.append(time.perf_counter() - started)

    token = await password_link(services, account, purpose=purpose)
    probing = _ProbingHasher(services.passwords, probe)
    services.passwords = probing  # type: ignore[assignment]
    services.directories.hasher = probing  # type: ignore[assignment]
    refused = await _submit(client, token, OLD, current=OLD)  # the current one again
    assert refused.status_code == 422
    done = await _submit(client, token, NEW, current=OLD)
    assert done.status_code == 200
    assert len(turns) >= 3 and max(turns) < 2.5, turns


async def test_head_is_answered_as_get_and_never_counts_as_a_submission(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    token = await password_link(services, account)
    for _ in range(6):
        head = await client.head(f"/password/{token}")
        assert head.status_code == 200 and head.content == b""
    async with services.sessions() as session:
        row = await session.scalar(select(OneTimeToken))
    assert row is not None and row.attempts == 0 and row.used_at is None
    assert (await _submit(client, token, NEW)).status_code == 200


async def test_a_malformed_body_gets_400_and_an_oversized_one_413(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    token = await password_link(services, account)
    page = await client.get(f"/password/{token}")
    assert page.status_code == 200
    malformed = await client.post(
        f"/password/{token}",
        content=b"--x\r\nContent-Disposition: form-data\r\n\r\nno end",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert malformed.status_code == 400 and "Traceback" not in malformed.text
    oversized = await client.post(f"/password/{token}", content=b"a=" + b"x" * 100_000)
    assert oversized.status_code == 413
    assert (await _submit(client, token, NEW)).status_code == 200


async def _suspend_and_link(services: Services) -> str:
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(Mailbox).values(
                condition="suspended",
                suspended_reason="疑似異常登入",
                suspension_notice="疑似異常登入，暫停信箱帳號。",
                notification_address="lin@example.org",
                password_hash=services.passwords.hash_sync(OLD),
            )
        )
    return await password_link(services, "a211300001@grad.demo.edu.tw")


async def _acknowledge(client: httpx.AsyncClient, token: str) -> None:
    notice = await client.get(f"/password/{token}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', notice.text)
    assert csrf is not None
    ack = await client.post(f"/password/{token}/ack", data={"csrf": csrf.group(1), "read": "yes"})
    assert ack.status_code == 303


async def test_a_reset_lifts_the_suspension_where_the_profile_says_so(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    assert services.profile.mail.reset_lifts_suspension  # the demo's mail terms
    token = await _suspend_and_link(services)
    await _acknowledge(client, token)
    done = await _submit(client, token, NEW)
    assert done.status_code == 200 and "the mailbox works again" in done.text
    async with services.sessions() as session:
        mailbox = await session.scalar(select(Mailbox))
    assert mailbox is not None and mailbox.condition == "normal"
    assert mailbox.suspension_notice is None


async def test_elsewhere_the_page_says_the_mailbox_stays_suspended_and_who_lifts_it(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    mail = services.profile.mail.model_copy(update={"reset_lifts_suspension": False})
    services.profile = services.profile.model_copy(update={"mail": mail})
    token = await _suspend_and_link(services)
    await _acknowledge(client, token)
    done = await _submit(client, token, NEW)
    assert done.status_code == 200
    assert "stays suspended" in done.text and "administrators" in done.text
    async with services.sessions() as session:
        mailbox = await session.scalar(select(Mailbox))
    assert mailbox is not None and mailbox.condition == "suspended"


async def test_the_strength_meter_reads_as_nthus_good_or_strong_in_both_languages(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    assert services.profile.password_policy.zxcvbn_min_score == 3
    token = await password_link(services, account)
    page = await client.get(f"/password/{token}?lang=zh-TW")
    assert "密碼強度須為「好」或「極強」" in page.text and "滿分" not in page.text
    assert 'id="strength"' in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None

    async def reading(password: str, lang: str) -> dict[str, object]:
        response = await client.post(
            f"/password/{token}/strength?lang={lang}",
            data={"csrf": csrf.group(1), "new_password": password},
        )
        assert response.status_code == 200
        return dict(response.json())

    weak = await reading("abc123", "en")
    assert weak["label"] == "Strength: Weak" and weak["enough"] is False
    strong = await reading(NEW, "zh-TW")
    assert strong["label"] in ("密碼強度：好", "密碼強度：極強") and strong["enough"] is True
    # Reading the meter neither uses the link nor counts against it.
    async with services.sessions() as session:
        row = await session.scalar(select(OneTimeToken))
    assert row is not None and row.used_at is None and row.attempts == 0
    forged = await client.post(
        f"/password/{token}/strength", data={"csrf": "guess", "new_password": NEW}
    )
    assert forged.status_code == 403


async def test_zh_pages_use_full_width_colons_and_the_chinese_menu_word(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    token = await password_link(services, account)
    form = await client.get(f"/password/{token}?lang=zh-TW")
    assert '帳號：<strong id="account">21*****01</strong>' in form.text
    english = await client.get(f"/password/{token}?lang=en")
    assert 'Account: <strong id="account">21*****01</strong>' in english.text
    gone = await client.get("/password/not-a-token", headers={"Accept-Language": "zh-TW"})
    assert "/menu" not in gone.text and "「選單」" in gone.text
