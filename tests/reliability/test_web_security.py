"""The web pages: security headers on every answer, CSRF on the reset form, methods.

The reset page (``/password/<token>``, with ``/ack`` for a suspended mailbox's notice)
and the card verifier (``/card/verify``, ``/card/verify.json``) must send, on each page
they render (form, error, done, refusal, redirect, JSON): a strict Content-Security-
Policy (nothing by default, scripts and styles only from the site itself, no inline
code, no framing, no base or foreign form targets), no referrer, no caching, no MIME
sniffing and frame denial. Their HTML must then need nothing that policy forbids. The
reset form refuses a POST without the CSRF cookie, without the form's token, or with a
token that does not match, and the link still works afterwards. Methods a route does not
serve get 405 and change nothing. The verifier keeps no cookies, so a cross-site request
carries no ambient credential to abuse.
"""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from sqlalchemy import select, update

from bot.services import Services
from bot.web.security import CSRF_COOKIE
from core.models import Account, Mailbox
from tests.factories import add_student, password_link

STUDENT_ID = "211303001"
OLD = "Old-Passw0rd!"
NEW = "Blue-Harbor-Lantern-42"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
UNSAFE_SOURCES = ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:", "http:")


def csp_directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name.lower()] = sources
    return directives


def assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    assert "content-security-policy" in headers, f"no CSP on {where}"
    csp = csp_directives(headers["content-security-policy"])
    assert csp.get("default-src") == ["'none'"], where
    for directive in ("script-src", "style-src", "img-src"):
        # Present or falling back to 'none'; where present, the site itself at most.
        assert set(csp.get(directive, ["'none'"])) <= {"'self'", "'none'"}, (directive, where)
    for sources in csp.values():
        assert not set(sources) & set(UNSAFE_SOURCES), where
    assert csp.get("frame-ancestors") == ["'none'"], where
    assert csp.get("base-uri") in (["'none'"], ["'self'"]), where
    assert csp.get("form-action") in (["'self'"], ["'none'"]), where
    assert headers.get("referrer-policy") == "no-referrer", where
    assert "no-store" in headers.get("cache-control", ""), where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("x-frame-options") == "DENY", where


def assert_needs_nothing_the_policy_forbids(html: str) -> None:
    """No inline script, style or event handler: the CSP would block them."""
    for script in re.findall(r"<script\b[^>]*>", html, flags=re.I):
        assert "src=" in script, f"an inline script: {script}"
    assert not re.search(r"<style\b", html, flags=re.I), "an inline <style>"
    assert not re.search(r"\sstyle\s*=", html, flags=re.I), "an inline style attribute"
    assert not re.search(r"\son[a-z]+\s*=", html, flags=re.I), "an inline event handler"
    assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:)?//""", html, flags=re.I), (
        "a resource from another site"
    )


@pytest.fixture
async def account(services: Services) -> str:
    await add_student(
        services,
        id_number="A128573490",
        birthday=dt.date(2001, 3, 14),
        student_id=STUDENT_ID,
        with_account=True,
        password=OLD,
    )
    return STUDENT_ID


async def _password_hash(services: Services) -> str:
    async with services.sessions() as session:
        stored = await session.scalar(
            select(Account.password_hash).where(Account.username == STUDENT_ID)
        )
    assert stored is not None
    return stored


async def _form_token(client: httpx.AsyncClient, token: str) -> str:
    page = await client.get(f"/password/{token}")
    assert page.status_code == 200
    match = CSRF_FIELD.search(page.text)
    assert match is not None
    return match.group(1)


async def test_every_answer_of_the_reset_page_sends_the_security_headers(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    token = await password_link(services, account)
    form = await client.get(f"/password/{token}")
    assert form.status_code == 200
    cookie = form.headers["set-cookie"].lower()
    assert f"{CSRF_COOKIE}=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert "path=/password/" in cookie
    csrf = CSRF_FIELD.search(form.text)
    assert csrf is not None
    refused = await client.post(f"/password/{token}", data={"csrf": "wrong", "new_password": NEW})
    too_weak = await client.post(
        f"/password/{token}",
        data={"csrf": csrf.group(1), "new_password": "short", "confirm_password": "short"},
    )
    csrf = CSRF_FIELD.search(too_weak.text)  # each rendering of the form has a new one
    assert csrf is not None
    done = await client.post(
        f"/password/{token}",
        data={"csrf": csrf.group(1), "new_password": NEW, "confirm_password": NEW},
    )
    used = await client.get(f"/password/{token}")
    unknown = await client.get("/password/not-a-token")
    assert [r.status_code for r in (refused, too_weak, done, used, unknown)] == [
        403,
        422,
        200,
        410,
        410,
    ]
    for response in (form, refused, too_weak, done, used, unknown):
        assert_security_headers(response)
        assert_needs_nothing_the_policy_forbids(response.text)


async def test_the_notice_step_of_a_suspended_mailbox_sends_the_headers_and_checks_csrf(
    client: httpx.AsyncClient, services: Services, account: str
) -> None:
    address = f"a{STUDENT_ID}@grad.demo.edu.tw"
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(Mailbox)
            .where(Mailbox.address == address)
            .values(
                condition="suspended",
                suspension_notice="Suspended: read this first.",
                notification_address="lin@example.org",
            )
        )
    token = await password_link(services, address)
    notice = await client.get(f"/password/{token}")
    assert notice.status_code == 200 and "read this first" in notice.text
    csrf = CSRF_FIELD.search(notice.text)
    assert csrf is not None
    no_token = await client.post(f"/password/{token}/ack", data={"read": "yes"})
    wrong = await client.post(f"/password/{token}/ack", data={"read": "yes", "csrf": "x"})
    acknowledged = await client.post(
        f"/password/{token}/ack", data={"read": "yes", "csrf": csrf.group(1)}
    )
    assert [r.status_code for r in (no_token, wrong, acknowledged)] == [403, 403, 303]
    for response in (notice, no_token, wrong, acknowledged):
        assert_security_headers(response)
    assert_needs_nothing_the_policy_forbids(notice.text)


@pytest.mark.parametrize(
    "forgery",
    [
        "no cookie and no form token",
        "no form token",
        "an empty form token",
        "a wrong form token",
        "the token of another page load",
        "no cookie",
    ],
)
async def test_a_reset_post_without_the_matching_csrf_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, services: Services, account: str, forgery: str
) -> None:
    token = await password_link(services, account)
    before = await _password_hash(services)
    good = await _form_token(client, token)
    form = {"new_password": NEW, "confirm_password": NEW}
    match forgery:
        case "no cookie and no form token":
            client.cookies.clear()
        case "no form token":
            pass
        case "an empty form token":
            form["csrf"] = ""
        case "a wrong form token":
            form["csrf"] = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
        case "the token of another page load":
            form["csrf"] = good
            await _form_token(client, token)  # a second load sets a new cookie
        case "no cookie":
            form["csrf"] = good
            client.cookies.clear()
    response = await client.post(f"/password/{token}", data=form)
    assert response.status_code == 403
    assert NEW not in response.text
    assert_security_headers(response)
    assert await _password_hash(services) == before
    assert (await client.get(f"/password/{token}")).status_code == 200, "the link was used up"


@pytest.mark.parametrize(
    ("path", "methods", "allowed"),
    [
        ("/password/{token}", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"], {"GET", "POST"}),
        ("/password/{token}/ack", ["GET", "PUT", "DELETE", "PATCH"], {"POST"}),
        ("/card/verify", ["PUT", "DELETE", "PATCH", "OPTIONS"], {"GET", "POST"}),
        ("/card/verify.json", ["GET", "PUT", "DELETE", "PATCH"], {"POST"}),
    ],
)
async def test_methods_a_page_does_not_serve_get_405_and_change_nothing(
    client: httpx.AsyncClient,
    services: Services,
    account: str,
    path: str,
    methods: list[str],
    allowed: set[str],
) -> None:
    token = await password_link(services, account)
    before = await _password_hash(services)
    for method in methods:
        response = await client.request(
            method,
            path.format(token=token),
            data={"new_password": NEW, "confirm_password": NEW, "payload": "x"},
        )
        assert response.status_code == 405, (method, path, response.status_code)
        assert set(response.headers["allow"].replace(" ", "").split(",")) - {"HEAD"} == allowed
    assert await _password_hash(services) == before
    assert (await client.get(f"/password/{token}")).status_code == 200


async def test_the_verifier_sends_the_headers_and_keeps_no_cookie(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/card/verify?lang=en")
    checked = await client.post(
        "/card/verify", content=b"payload=HDC1.1.1.12345678", headers=_form_headers()
    )
    too_long = await client.post("/card/verify", content=b"payload=" + b"x" * 2000)
    as_json = await client.post("/card/verify.json", json={"payload": "HDC1.1.1.12345678"})
    junk = await client.post("/card/verify.json", content=b"{")
    assert [r.status_code for r in (page, checked, too_long, as_json, junk)] == [
        200,
        200,
        400,
        200,
        400,
    ]
    for response in (page, checked, too_long, as_json, junk):
        assert_security_headers(response)
        assert "set-cookie" not in response.headers
    for response in (page, checked, too_long):
        assert_needs_nothing_the_policy_forbids(response.text)


def _form_headers() -> dict[str, str]:
    return {"content-type": "application/x-www-form-urlencoded", "origin": "https://evil.example"}
