"""The alumni card verifier: a page and a JSON endpoint for gates and partner shops.

DESIGN.md flow 6 (seed 003): a scanner reads the card's rotating QR code and asks us
whether it is valid, expired, already used (replayed), revoked or unknown. The check
is stateless for the client (no cookies, so nothing for a cross-site request to
ride on), rate-limited per client address, and audited without the payload or code.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bot.card_images import CARD_TYPES
from bot.services import Services
from bot.web.security import SECURITY_HEADERS, client_address
from core import audit
from core.cards import CardCipher, Verdict, Verification, verify
from core.i18n import DEFAULT_LOCALE, LOCALES, N_, Translator, normalise_locale
from core.ratelimit import Hit, RateLimiter

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
MAX_BODY = 1024
RATE_LIMIT = 60  # verifications per client address per window
RATE_WINDOW = dt.timedelta(minutes=1)

log = logging.getLogger(__name__)

# What the result page says for each verdict (English msgids, translated per request).
HEADLINES = {
    Verdict.VALID: N_("Valid"),
    Verdict.EXPIRED: N_("Expired"),
    Verdict.REPLAYED: N_("Already used"),
    Verdict.REVOKED: N_("Revoked"),
    Verdict.UNKNOWN: N_("Not recognised"),
}
EXPLANATIONS = {
    Verdict.VALID: N_("This alumni card is valid."),
    Verdict.EXPIRED: N_("This code or card has expired. Ask the holder to open the card again."),
    Verdict.REPLAYED: N_("This code was already checked. Ask the holder to show the current code."),
    Verdict.REVOKED: N_("This alumni card has been revoked."),
    Verdict.UNKNOWN: N_("This is not a card code we issued."),
}


class TooLarge(Exception):
    """The request body is over ``MAX_BODY``."""


class CardVerifier:
    """Routes for ``/card/verify`` (HTML) and ``/card/verify.json``."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.cipher = CardCipher(services.settings.card_fernet_key)
        self.limiter = RateLimiter()

    def routes(self) -> list[Route]:
        return [
            Route("/card/verify", self.page, methods=["GET", "POST"]),
            Route("/card/verify.json", self.check_json, methods=["POST"]),
        ]

    # -- the check -----------------------------------------------------------------------

    def _client(self, request: Request) -> str:
        """A pseudonym of the client address (forwarded only by a trusted proxy)."""
        host = client_address(request, self.services.settings.trusted_proxies)
        return self.services.pii.chat_user("card-verifier", host)

    async def _over_limit(self, client: str) -> Hit | None:
        """Count this request; the counter's state when the client is over the limit."""
        now = self.services.clock.now()
        async with self.services.sessions() as session, session.begin():
            hit = await self.limiter.hit(
                session, f"card-verify:{client}", window=RATE_WINDOW, now=now
            )
        return hit if hit.count > RATE_LIMIT else None

    def _retry_after(self, hit: Hit) -> dict[str, str]:
        seconds = (hit.resets_at - self.services.clock.now()).total_seconds()
        return {**SECURITY_HEADERS, "Retry-After": str(max(1, int(seconds) + 1))}

    async def _verify(self, client: str, payload: str) -> Verification:
        services = self.services
        now = services.clock.now()
        today = now.astimezone(services.profile.zone).date()
        async with services.sessions() as session, session.begin():
            result = await verify(
                session,
                self.cipher,
                payload,
                now=now,
                period=services.profile.card.refresh_seconds,
                today=today,
            )
            audit.record(
                session,
                at=now,
                channel="web",
                actor=f"verifier:{client[:16]}",
                flow="card",
                action="verify",
                outcome=str(result.verdict),
                card_id=result.card_id,
            )
        log.info("card verification: %s", result.verdict)
        return result

    # -- JSON ----------------------------------------------------------------------------

    async def check_json(self, request: Request) -> Response:
        client = self._client(request)
        if (hit := await self._over_limit(client)) is not None:
            return JSONResponse(
                {"error": "rate_limited"}, status_code=429, headers=self._retry_after(hit)
            )
        try:
            data = json.loads(await _read_body(request))
        except (TooLarge, ValueError, RecursionError):
            return _json({"error": "bad_request"}, 400)
        payload = data.get("payload") if isinstance(data, dict) else None
        if not isinstance(payload, str):
            return _json({"error": "bad_request"}, 400)
        result = await self._verify(client, payload)
        valid = result.verdict == Verdict.VALID
        return _json(
            {
                "result": str(result.verdict),
                "name": result.name_zh if valid else None,
                "name_en": result.name_en if valid else None,
                "card_type": result.card_type if valid else None,
                "valid_until": (
                    result.valid_until.isoformat() if valid and result.valid_until else None
                ),
            },
            200,
        )

    # -- HTML ----------------------------------------------------------------------------

    def _locale(self, request: Request) -> str:
        """The page's language: the switch, else the browser's (as password_page.py)."""
        asked = request.query_params.get("lang", "").replace("-", "_")
        if asked in LOCALES:
            return asked
        accept = request.headers.get("accept-language", "")
        return normalise_locale(accept.split(",")[0]) or DEFAULT_LOCALE

    def _render(
        self, request: Request, locale: str, *, status: int = 200, **context: Any
    ) -> Response:
        t = Translator(locale)
        other = "en" if locale == "zh_TW" else "zh_TW"
        return TEMPLATES.TemplateResponse(
            request,
            "card_verify.html",
            {
                "_": t._,
                "lang": "zh-Hant-TW" if locale == "zh_TW" else "en",
                "switch_lang": other.replace("_", "-"),
                "switch_label": "English" if other == "en" else "中文",
                "institution": self.services.profile.display_name.get(locale),
                "action": f"/card/verify?lang={locale.replace('_', '-')}",
                "result": None,
                "error": None,
                **context,
            },
            status_code=status,
            headers=SECURITY_HEADERS,
        )

    async def page(self, request: Request) -> Response:
        locale = self._locale(request)
        if request.method != "POST":  # GET, and HEAD as GET
            return self._render(request, locale)
        t = Translator(locale)
        client = self._client(request)
        if (hit := await self._over_limit(client)) is not None:
            error = t._("Too many checks from this address. Wait a minute and try again.")
            response = self._render(request, locale, status=429, error=error)
            response.headers["Retry-After"] = self._retry_after(hit)["Retry-After"]
            return response
        try:
            form = parse_qs((await _read_body(request)).decode("utf-8", "replace"))
        except TooLarge:
            error = t._("The scanned text is too long to be a card code.")
            return self._render(request, locale, status=400, error=error)
        payload = (form.get("payload") or [""])[0]
        result = await self._verify(client, payload)
        return self._render(
            request,
            locale,
            result={
                "verdict": str(result.verdict),
                "headline": t._(HEADLINES[result.verdict]),
                "explanation": t._(EXPLANATIONS[result.verdict]),
                "name_zh": result.name_zh,
                "name_en": result.name_en,
                "card_type": _card_type(t, result.card_type),
                "valid_until": result.valid_until.isoformat() if result.valid_until else None,
            },
        )


def _card_type(t: Translator, card_type: str | None) -> str | None:
    """The card type in the page's language (bot/card_images.py's names)."""
    if card_type is None:
        return None
    return t._(CARD_TYPES[card_type]) if card_type in CARD_TYPES else card_type


async def _read_body(request: Request) -> bytes:
    """The body, refusing more than ``MAX_BODY`` bytes without reading them all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise TooLarge
    return bytes(body)


def _json(content: dict[str, Any], status: int) -> Response:
    return JSONResponse(content, status_code=status, headers=SECURITY_HEADERS)
