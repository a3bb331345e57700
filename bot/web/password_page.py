"""The password page a one-time link opens: reset (forgot) or change mode.

GET only looks at the token. A POST takes one of the link's ``MAX_ATTEMPTS``, checks
the profile's policy, writes the password to the directory (``core.directory``: the
bot's tables, or LDAP where the directory's own policy then applies), and only then
uses up the link and records the change, in one transaction. A failed attempt (policy,
typo, wrong current password, a refusal by the directory) leaves the link usable up to
``MAX_ATTEMPTS``. Every submission also counts against the account, across all of its
links (``failures_per_user`` per ``lockout_minutes``), so minting new links gives no new
guesses at the current password. A directory that does not answer changes nothing and
leaves the link as it was. Hashing, strength checks and directory round trips run
outside any transaction: a slow submission never holds the database (SQLite's single
writer) while other chats wait. The policy check and the strength meter (zxcvbn) run in
``core.passwords``' process pool, never on the event loop or in a thread of this
process. Policy is checked live in the browser and again here.
"""

from __future__ import annotations

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
from bot.text import in_language
from bot.web.security import CSRF_COOKIE, SECURITY_HEADERS, csrf_ok
from core import audit, mailboxes, passwords, tokens
from core.directory import (
    AccountLocked,
    ChangedMeanwhile,
    DirectoryAccount,
    DirectoryUnavailable,
    PasswordRefused,
    TargetKind,
    WrongPassword,
    link_subject,
)
from core.i18n import DEFAULT_LOCALE, LOCALES, N_, Translator, normalise_locale
from core.mail import enqueue, mask_address
from core.models import ChatNotice, OneTimeToken
from core.password_policy import Requirement, Violation, policy_as_json, requirements
from core.ratelimit import RateLimiter

LOCKED = AccountLocked()
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
MAX_PASSWORD = 1024
MAX_ATTEMPTS = 5  # submissions per link, whatever made them fail
LIMITER = RateLimiter()


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

    async def _target(self, row: OneTimeToken) -> DirectoryAccount | None:
        """The account or mailbox the link names, as the directory has it now."""
        async with self.services.sessions() as session:
            return await self.services.directories(session).account(row.subject)

    def _unavailable(
        self, request: Request, locale: str, *, msgid: str = DirectoryUnavailable.msgid
    ) -> Response:
        """The directory did not answer (or the account is locked there): nothing changed,
        and the link still works later."""
        status = 423 if msgid == LOCKED.msgid else 503
        message = Translator(locale)._(msgid)
        return self._render(
            request, "password_unavailable.html", locale, status=status, message=message
        )

    def _form(
        self,
        request: Request,
        locale: str,
        row: OneTimeToken,
        target: DirectoryAccount,
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
        try:
            target = await self._target(row)
        except DirectoryUnavailable:
            return self._unavailable(request, locale)
        if target is None:
            return self._invalid(request, locale)
        if target.locked:  # by the directory, after too many wrong passwords
            return self._unavailable(request, locale, msgid=LOCKED.msgid)
        if target.suspended and not row.data.get("acknowledged"):
            return self._render(
                request,
                "password_notice.html",
                locale,
                csrf=secrets.token_urlsafe(24),
                account=target.name,
                # Staff write it once in both languages: the page shows its own.
                notice=in_language(target.notice or "", locale),
                # Absolute: relative to /password/<token> the browser would post to /password/ack.
                ack_url=f"/password/{token}/ack?lang={locale.replace('_', '-')}",
            )
        if request.method != "POST":  # GET, and HEAD as GET
            paused = await self._account_paused(target)
            if paused is not None:
                return self._paused(request, locale, paused)
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
        try:
            target = await self._target(row) if row is not None else None
            if row is None or target is None:
                return Response(status_code=410, headers=SECURITY_HEADERS)
            async with services.sessions() as session:
                personal = await services.directories(session).personal_words(target)
        except DirectoryUnavailable:
            return Response(status_code=503, headers=SECURITY_HEADERS)
        form = await request.form()
        if not csrf_ok(request, form.get("csrf")):
            return Response(status_code=403, headers=SECURITY_HEADERS)
        password = str(form.get("new_password", ""))[:MAX_PASSWORD]
        score = await passwords.rate(password, personal)
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
        self,
        request: Request,
        token: str,
        locale: str,
        row: OneTimeToken,
        target: DirectoryAccount,
    ) -> Response:
        """Count, check, write to the directory, then use up the link: no hashing and no
        directory round trip inside a database transaction.

        Every submission first takes one of the link's ``MAX_ATTEMPTS`` (so racing
        submissions cannot try more between them); a failure of any kind keeps it
        spent, and the last one ends the link. The directory cannot share the link's
        transaction (LDAP), so the link is used up just before the write, which makes
        racing submissions write at most once, and given back if the write fails.
        """
        services = self.services
        policy = services.profile.password_policy
        now = services.clock.now()
        paused = await self._count_for_account(target)
        if paused is not None:
            return self._paused(request, locale, paused)
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
        change = reserved.purpose == tokens.Purpose.CHANGE

        t = Translator(locale)
        errors: list[str] = []
        unmet: list[Requirement] = []
        async with services.sessions() as session:  # lookups only; released before writing
            directory = services.directories(session)
        try:
            personal = await directory.personal_words(target)
            first = (await directory.password_state(target)).changed_at is None
            if change and not await directory.verify_password(target, current):
                errors.append(t._("The current password is not right."))
            elif new != confirm:
                errors.append(t._("The two new passwords are not the same."))
            else:
                unmet = await passwords.check_policy(policy, new, personal=personal)
                errors += [t._(r.message, **r.params) for r in unmet]
        except DirectoryUnavailable:
            return self._unavailable(request, locale)
        except AccountLocked as exc:
            errors.append(t._(exc.msgid, **exc.params))
        if errors:
            return await self._refuse(request, token, locale, row, target, errors, unmet)

        async with services.sessions() as session, session.begin():
            consumed = await tokens.consume(session, token, now=services.clock.now())
        if consumed is None:  # a racing submission took it
            return self._invalid(request, locale)
        try:
            if change:
                await directory.change_password(target, current, new)
            else:
                await directory.reset_password(target, new)
        except (DirectoryUnavailable, ChangedMeanwhile):
            await self._give_back(consumed)
            return self._unavailable(request, locale)
        except PasswordRefused as refused:
            errors.append(t._(refused.msgid, **refused.params))
            if refused.violation is not None:
                unmet = [r for r in requirements(policy) if r.code == refused.violation]
        except (WrongPassword, AccountLocked) as exc:
            errors.append(t._(exc.msgid, **exc.params))
        if errors:
            await self._give_back(consumed)
            return await self._refuse(request, token, locale, row, target, errors, unmet)

        now = services.clock.now()
        async with services.sessions() as session, session.begin():
            await self._record(session, consumed, target, locale, now)
            lifted = False
            if (
                target.suspended
                and target.kind == TargetKind.MAILBOX
                and services.profile.mail.reset_lifts_suspension
                and services.directories.remote is None
            ):
                mailbox_id = int(target.ref.partition(":")[2])
                lifted = await mailboxes.lift_after_reset(session, mailbox_id, now=now)
        minutes = services.profile.mail.takes_effect_minutes
        return self._render(
            request,
            "password_done.html",
            locale,
            minutes=minutes,
            first=first,
            lifted=lifted,
            still_suspended=target.suspended and not lifted,
        )

    async def _record(
        self,
        session: AsyncSession,
        consumed: OneTimeToken,
        target: DirectoryAccount,
        locale: str,
        now: dt.datetime,
    ) -> None:
        """What follows a new password: other links end, an audit event, the notices."""
        services = self.services
        # The notices follow the chat's language, not the page's switch.
        stored = consumed.data.get("locale")
        locale = str(stored) if stored in LOCALES else locale
        t = Translator(locale)
        await tokens.end_outstanding(session, link_subject(target), now=now)
        audit.record(
            session,
            at=now,
            channel="web",
            actor=link_subject(target),
            flow=str(consumed.purpose),
            action="password_set",
            outcome="changed",
        )
        notice = t._(
            "The password of {account} was changed. If this was not you, contact the "
            "helpdesk at once.",
            account=target.name,
        )
        address = target.send_to
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

    async def _refuse(
        self,
        request: Request,
        token: str,
        locale: str,
        row: OneTimeToken,
        target: DirectoryAccount,
        errors: list[str],
        unmet: list[Requirement],
    ) -> Response:
        """The form again with what was wrong, unless that was the link's last attempt."""
        if await self._end_if_spent(token):
            return self._invalid(request, locale)
        return self._form(request, locale, row, target, errors=errors, unmet=unmet, status=422)

    # -- the account's own count ---------------------------------------------------------

    def _account_key(self, target: DirectoryAccount) -> str:
        return f"pwpage:{self.services.pii.subject('account', link_subject(target))}"

    async def _count_for_account(self, target: DirectoryAccount) -> dt.datetime | None:
        """Count a submission against the account, across all of its links; when that
        is one too many, until when the page is paused for it.

        A new link gives new attempts on the link, never new guesses at the current
        password: ``failures_per_user`` submissions per ``lockout_minutes`` per account,
        which the profile keeps below the directory's own lockout (``pwdMaxFailure``).
        The count is taken before the submission is checked (one upsert), so racing
        submissions cannot exceed it between them.
        """
        services = self.services
        limits = services.profile.limits
        async with services.sessions() as session, session.begin():
            hit = await LIMITER.hit(
                session,
                self._account_key(target),
                window=dt.timedelta(minutes=limits.lockout_minutes),
                now=services.clock.now(),
            )
        return hit.resets_at if hit.count > limits.failures_per_user else None

    async def _account_paused(self, target: DirectoryAccount) -> dt.datetime | None:
        """Until when the account has no submissions left, if it has none (counts nothing)."""
        services = self.services
        async with services.sessions() as session:
            hit = await LIMITER.peek(session, self._account_key(target), now=services.clock.now())
        if hit is None or hit.count < services.profile.limits.failures_per_user:
            return None
        return hit.resets_at

    def _paused(self, request: Request, locale: str, until: dt.datetime) -> Response:
        local = until.astimezone(self.services.profile.zone)
        message = Translator(locale)._(
            "Too many password submissions were made for this account, so the password "
            "page is paused for it until {time} (Taiwan time).",
            time=local.strftime("%Y-%m-%d %H:%M"),
        )
        return self._render(
            request, "password_unavailable.html", locale, status=429, message=message
        )

    async def _give_back(self, consumed: OneTimeToken) -> None:
        """Make a link taken for a write that failed usable again (nothing was changed)."""
        async with self.services.sessions() as session, session.begin():
            await session.execute(
                update(OneTimeToken).where(OneTimeToken.id == consumed.id).values(used_at=None)
            )

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
