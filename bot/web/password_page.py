"""The password page a one-time link opens: reset (forgot) or change mode.

GET only looks at the token; the form's POST consumes it, in the same transaction as
the new password, so two racing submissions cannot both succeed. A failed attempt
(policy, typo, wrong current password) leaves the link usable up to ``MAX_ATTEMPTS``.
Hashing and strength checks run outside any transaction: a slow submission never holds
the database (SQLite's single writer) while other chats wait. Policy is checked live
in the browser and again here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import json
import secrets
from pathlib import Path
from typing import Any

from markupsafe import Markup
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bot.services import Services
from bot.web.security import CSRF_COOKIE, SECURITY_HEADERS, csrf_ok
from core import audit, mailboxes, tokens
from core.accounts import Target, password_hashes, personal_words
from core.i18n import DEFAULT_LOCALE, LOCALES, N_, Translator, normalise_locale
from core.mail import enqueue, mask_address
from core.models import Account, ChatNotice, Mailbox, OneTimeToken, PasswordHistory
from core.password_policy import Requirement, Violation, check, policy_as_json, requirements
from core.password_words import strength

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
MAX_PASSWORD = 1024
MAX_ATTEMPTS = 5  # submissions per link, whatever made them fail


class PasswordPage:
    """Routes for ``/password/{token}``."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def routes(self) -> list[Route]:
        return [
            Route("/password/{token}", self.page, methods=["GET", "POST"]),
            Route("/password/{token}/ack", self.acknowledge, methods=["POST"]),
            Route("/password/{token}/strength", self.strength, methods=["POST"]),
        ]

    # -- rendering -------------------------------------------------------------------

    def _locale(self, request: Request, row: OneTimeToken | None) -> str:
        """The page's language: the switch, else the chat's, else the browser's."""
        asked = request.query_params.get("lang", "").replace("-", "_")
        if asked in LOCALES:
            return asked
        stored = row.data.get("locale") if row is not None else None
        if stored in LOCALES:
            return str(stored)
        accept = request.headers.get("accept-language", "")
        return normalise_locale(accept.split(",")[0]) or DEFAULT_LOCALE

    def _render(
        self,
        request: Request,
        template: str,
        locale: str,
        *,
        status: int = 200,
        csrf: str | None = None,
        **context: Any,
    ) -> Response:
        t = Translator(locale)
        profile = self.services.profile
        other = "en" if locale == "zh_TW" else "zh_TW"
        response = TEMPLATES.TemplateResponse(
            request,
            template,
            {
                "_": t._,
                "lang": "zh-Hant-TW" if locale == "zh_TW" else "en",
                "switch_lang": other.replace("_", "-"),
                "switch_label": "English" if other == "en" else "中文",
                "institution": profile.display_name.get(locale),
                "csrf": csrf,
                **context,
            },
            status_code=status,
            headers=SECURITY_HEADERS,
        )
        if csrf is not None:
            response.set_cookie(
                CSRF_COOKIE,
                csrf,
                httponly=True,
                samesite="strict",
                path="/password/",
                secure=self.services.settings.public_url.startswith("https://"),
            )
        return response

    def _invalid(self, request: Request, locale: str) -> Response:
        return self._render(request, "password_invalid.html", locale, status=410)

    def _checklist(self, locale: str, unmet: list[Requirement] | None) -> list[dict[str, Any]]:
        t = Translator(locale)
        policy = self.services.profile.password_policy
        rules = policy_as_json(policy)
        unmet_codes = {r.code for r in unmet} if unmet is not None else None
        items = []
        for requirement, rule in zip(requirements(policy), rules, strict=True):
            met = None if unmet_codes is None else requirement.code not in unmet_codes
            if requirement.code == Violation.TOO_WEAK:
                text = _strength_rule(t, policy.zxcvbn_min_score)
            else:
                text = t._(requirement.msgid, **requirement.params)
            items.append(
                {
                    "text": text,
                    "rule": json.dumps(rule),
                    "met": met,
                }
            )
        return items

    async def _target(self, row: OneTimeToken) -> Target | None:
        kind, _, raw_id = row.subject.partition(":")
        async with self.services.sessions() as session:
            if kind == "mailbox":
                mailbox = await session.get(Mailbox, int(raw_id))
                if mailbox is None:
                    return None
                return Target(
                    "mailbox",
                    mailbox.id,
                    mailbox.address,
                    mailbox.person_id,
                    mailbox.notification_address,
                    mailbox.condition == "suspended",
                    mailbox.suspension_notice,
                )
            account = await session.get(Account, int(raw_id))
            if account is None:
                return None
            return Target(
                "account", account.id, account.username, account.person_id, None, False, None
            )

    def _form(
        self,
        request: Request,
        locale: str,
        row: OneTimeToken,
        target: Target,
        *,
        errors: list[str] | None = None,
        unmet: list[Requirement] | None = None,
        status: int = 200,
    ) -> Response:
        return self._render(
            request,
            "password_form.html",
            locale,
            status=status,
            csrf=secrets.token_urlsafe(24),
            account_line=_account_line(locale, _mask_account(target.name)),
            change=row.purpose == tokens.Purpose.CHANGE,
            summary=self.services.profile.password_policy.summary.get(locale),
            max_length=self.services.profile.password_policy.max_length,
            meter=self.services.profile.password_policy.zxcvbn_min_score > 0,
            checklist=self._checklist(locale, unmet),
            errors=errors or [],
        )

    # -- handlers ----------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        token = request.path_params["token"]
        now = self.services.clock.now()
        async with self.services.sessions() as session:
            row = await tokens.peek(session, token, now=now)
            locale = self._locale(request, row or await tokens.find(session, token))
        if row is None:
            return self._invalid(request, locale)
        target = await self._target(row)
        if target is None:
            return self._invalid(request, locale)
        if target.suspended and not row.data.get("acknowledged"):
            return self._render(
                request,
                "password_notice.html",
                locale,
                csrf=secrets.token_urlsafe(24),
                account=target.name,
                notice=target.notice or "",
                # Absolute: relative to /password/<token> the browser would post to /password/ack.
                ack_url=f"/password/{token}/ack?lang={locale.replace('_', '-')}",
            )
        if request.method != "POST":  # GET, and HEAD as GET
            return self._form(request, locale, row, target)
        return await self._submit(request, token, locale, row, target)

    async def acknowledge(self, request: Request) -> Response:
        token = request.path_params["token"]
        form = await request.form()
        now = self.services.clock.now()
        async with self.services.sessions() as session, session.begin():
            row = await tokens.peek(session, token, now=now)
            locale = self._locale(request, row)
            if row is None:
                return self._invalid(request, locale)
            if not csrf_ok(request, form.get("csrf")) or form.get("read") != "yes":
                return Response(status_code=403, headers=SECURITY_HEADERS)
            row.data = {**row.data, "acknowledged": now.isoformat()}
        return Response(
            status_code=303,
            headers={
                **SECURITY_HEADERS,
                "Location": f"/password/{token}?lang={locale.replace('_', '-')}",
            },
        )

    async def strength(self, request: Request) -> Response:
        """The strength meter's reading of a typed password (NTHU's GOOD / STRONG, seed 002).

        Only zxcvbn knows the score, so the page asks as the user types; nothing is
        stored and the link is not used. The same CSRF cookie as the form guards it.
        """
        token = request.path_params["token"]
        services = self.services
        async with services.sessions() as session:
            row = await tokens.peek(session, token, now=services.clock.now())
        target = await self._target(row) if row is not None else None
        if row is None or target is None:
            return Response(status_code=410, headers=SECURITY_HEADERS)
        async with services.sessions() as session:
            personal = await personal_words(session, target)
        form = await request.form()
        if not csrf_ok(request, form.get("csrf")):
            return Response(status_code=403, headers=SECURITY_HEADERS)
        password = str(form.get("new_password", ""))[:MAX_PASSWORD]
        score = await asyncio.to_thread(strength, password, personal)
        t = Translator(self._locale(request, row))
        minimum = services.profile.password_policy.zxcvbn_min_score
        return JSONResponse(
            {
                "score": score,
                "label": t._("Strength: {level}", level=t._(STRENGTH_LEVELS[score])),
                "enough": score >= minimum,
            },
            headers=SECURITY_HEADERS,
        )

    async def _submit(
        self, request: Request, token: str, locale: str, row: OneTimeToken, target: Target
    ) -> Response:
        """Read, release, compute, then write: no hashing inside a database transaction.

        Every submission first takes one of the link's ``MAX_ATTEMPTS`` (so racing
        submissions cannot try more between them); a failure of any kind keeps it
        spent, and the last one ends the link. The final write re-checks the password
        hash it read, so a change made meanwhile is never overwritten.
        """
        services = self.services
        policy = services.profile.password_policy
        now = services.clock.now()
        async with services.sessions() as session, session.begin():
            reserved = await tokens.reserve_attempt(session, token, now=now, limit=MAX_ATTEMPTS)
        if reserved is None:
            return self._invalid(request, locale)
        form = await request.form()
        if not csrf_ok(request, form.get("csrf")):
            await self._end_if_spent(token)
            return Response(status_code=403, headers=SECURITY_HEADERS)
        new = str(form.get("new_password", ""))[:MAX_PASSWORD]
        confirm = str(form.get("confirm_password", ""))[:MAX_PASSWORD]
        current = str(form.get("current_password", ""))[:MAX_PASSWORD]

        async with services.sessions() as session:  # read, then release
            hashes = await password_hashes(session, target, policy.history)
            personal = await personal_words(session, target)

        t = Translator(locale)
        errors: list[str] = []
        unmet: list[Requirement] = []
        if reserved.purpose == tokens.Purpose.CHANGE and not (
            hashes and await services.passwords.verify(hashes[0], current)
        ):
            errors.append(t._("The current password is not right."))
        elif new != confirm:
            errors.append(t._("The two new passwords are not the same."))
        else:
            unmet = await asyncio.to_thread(check, policy, new, personal=personal)
            # "Not the last N": the current password is the first of them (seed 003).
            depth = hashes[: max(policy.history, 1)]
            if not unmet and await _reused(services, depth, new):
                unmet = [r for r in requirements(policy) if r.code == Violation.REUSED]
            errors += [t._(r.message, **r.params) for r in unmet]
        if errors:
            if await self._end_if_spent(token):
                return self._invalid(request, locale)
            return self._form(request, locale, row, target, errors=errors, unmet=unmet, status=422)

        new_hash = await services.passwords.hash(new)
        now = services.clock.now()
        async with services.sessions() as session, session.begin():
            consumed = await tokens.consume(session, token, now=now)
            read = hashes[0] if hashes else None
            if consumed is None or not await _replace_hash(session, target, read, new_hash, now):
                await session.rollback()
                return self._invalid(request, locale)
            await self._record(session, consumed, target, locale, now)
            lifted = False
            if target.suspended and services.profile.mail.reset_lifts_suspension:
                lifted = await mailboxes.lift_after_reset(session, target.id, now=now)
        minutes = services.profile.mail.takes_effect_minutes
        return self._render(
            request,
            "password_done.html",
            locale,
            minutes=minutes,
            first=not hashes,
            lifted=lifted,
            still_suspended=target.suspended and not lifted,
        )

    async def _record(
        self,
        session: AsyncSession,
        consumed: OneTimeToken,
        target: Target,
        locale: str,
        now: dt.datetime,
    ) -> None:
        """What follows a new password: other links end, an audit event, the notices."""
        services = self.services
        # The notices follow the chat's language, not the page's switch.
        stored = consumed.data.get("locale")
        locale = str(stored) if stored in LOCALES else locale
        t = Translator(locale)
        await tokens.end_outstanding(session, target.subject, now=now)
        audit.record(
            session,
            at=now,
            channel="web",
            actor=f"{target.kind}:{target.id}",
            flow=str(consumed.purpose),
            action="password_set",
            outcome="changed",
        )
        notice = t._(
            "The password of {account} was changed. If this was not you, contact the "
            "helpdesk at once.",
            account=target.name,
        )
        address = target.send_to or await _address_for(session, services, target)
        if address:
            enqueue(
                session,
                to=address,
                now=now,
                body=notice,
                subject=t._(
                    "{institution}: your password was changed",
                    institution=services.profile.display_name.get(locale),
                ),
            )
        channel, chat_id = consumed.data.get("channel"), consumed.data.get("chat_id")
        if channel and chat_id:
            session.add(ChatNotice(channel=channel, chat_id=chat_id, text=notice, created_at=now))

    async def _end_if_spent(self, token: str) -> bool:
        """After a failed submission: end the link if that was its last attempt."""
        async with self.services.sessions() as session, session.begin():
            return await tokens.end_if_spent(
                session, token, now=self.services.clock.now(), limit=MAX_ATTEMPTS
            )


# NTHU's meter (seeds 002, 004): GOOD (好) or STRONG (極強) may be submitted.
STRENGTH_LEVELS = {0: N_("Weak"), 1: N_("Weak"), 2: N_("Fair"), 3: N_("Good"), 4: N_("Strong")}


def _strength_rule(t: Translator, minimum: int) -> str:
    """The checklist's strength rule in the meter's words."""
    if minimum == 3:
        return t._("Password strength must be GOOD or STRONG")
    if minimum == 4:
        return t._("Password strength must be STRONG")
    return t._("Password strength at least {level}", level=t._(STRENGTH_LEVELS[minimum]))


async def _reused(services: Services, hashes: list[str], password: str) -> bool:
    for stored in hashes:
        if await services.passwords.verify(stored, password):
            return True
    return False


async def _replace_hash(
    session: AsyncSession, target: Target, read: str | None, new_hash: str, now: dt.datetime
) -> bool:
    """Store ``new_hash`` if the password is still the one read; the old one to history."""
    if target.kind == "mailbox":
        changed = await session.execute(
            update(Mailbox)
            .where(Mailbox.id == target.id, _same(Mailbox.password_hash, read))
            .values(password_hash=new_hash, password_changed_at=now)
            .returning(Mailbox.id)
        )
        return changed.first() is not None
    changed = await session.execute(
        update(Account)
        .where(Account.id == target.id, _same(Account.password_hash, read))
        .values(password_hash=new_hash, password_changed_at=now, must_change=False)
        .returning(Account.id)
    )
    if changed.first() is None:
        return False
    if read is not None:
        session.add(PasswordHistory(account_id=target.id, password_hash=read, created_at=now))
    return True


def _same(column: Any, read: str | None) -> Any:
    return column.is_(None) if read is None else column == read


async def _address_for(session: Any, services: Services, target: Target) -> str | None:
    from core.accounts import find_target

    found = await find_target(session, services.profile, name=target.name, id_number_hash=None)
    return found.send_to if found is not None else None


def _account_line(locale: str, masked: str) -> Markup:
    """ "Account: 21*****01" with the name marked up, the colon as the language writes it."""
    line = Translator(locale)._("Account: {account}")  # the zh colon is full-width
    return Markup(html.escape(line)).format(
        account=Markup('<strong id="account">{}</strong>').format(masked)
    )


def _mask_account(name: str) -> str:
    if "@" in name:
        return mask_address(name)
    if len(name) <= 4:
        return name[0] + "*" * (len(name) - 1)
    return name[:2] + "*" * (len(name) - 4) + name[-2:]
