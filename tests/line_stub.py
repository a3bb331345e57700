"""A stand-in LINE Messaging API that checks every call against LINE's OpenAPI document.

The document is ``tests/data/line/messaging-api.yml`` (see ``tests/data/README.md``),
read with openapi-core: each request's path, method, parameters, headers (the bearer
token) and body must match it. A few limits LINE documents but the file leaves out are
checked too (text length, quick reply labels). A violation is answered with 400 and
appended to ``LineApiStub.violations``. Both of LINE's hosts (api.line.me and
api-data.line.me) are served from one base URL.

Reply tokens behave as LINE's do: the stub issues them (``reply_token``), each works
once, and an expired one is refused with 400 "Invalid reply token". Pushes count
against a monthly quota (``quota_limit``); past it a push gets 429 "You have reached
your monthly limit.". ``fail_next`` answers one call with an error (e.g. a rate limit).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.starlette.requests import StarletteOpenAPIRequest
from openapi_core.exceptions import OpenAPIError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.live import free_port, serving

SPEC_PATH = Path(__file__).parent / "data" / "line" / "messaging-api.yml"
WEBHOOK_SPEC_PATH = Path(__file__).parent / "data" / "line" / "webhook.yml"
SPEC_HOST = "http://line.test"  # every server of the document, as the stub serves them
ACCESS_TOKEN = "line-channel-access-token-0123456789"
MAX_TEXT = 5000  # text message (documented; not in the OpenAPI file)
MAX_LABEL = 20  # quick reply and rich menu action labels
Json = dict[str, Any]


def _one_server(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: ([{"url": SPEC_HOST}] if k == "servers" else _one_server(v)) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_one_server(v) for v in node]
    return node


@functools.cache
def messaging_api() -> OpenAPI:
    return OpenAPI.from_dict(_one_server(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))))


@functools.cache
def webhook_api() -> OpenAPI:
    return OpenAPI.from_dict(
        _one_server(yaml.safe_load(WEBHOOK_SPEC_PATH.read_text(encoding="utf-8")))
    )


class _Request(StarletteOpenAPIRequest):
    """A request as the document's server sees it (the stub's own host is not in it)."""

    @property
    def host_url(self) -> str:
        return SPEC_HOST


def check_limits(body: Any) -> list[str]:
    """Documented limits the OpenAPI file does not state."""
    errors: list[str] = []
    for message in (body or {}).get("messages", []) if isinstance(body, dict) else []:
        if message.get("type") == "text" and len(message.get("text", "")) > MAX_TEXT:
            errors.append(f"text message of {len(message['text'])} characters (max {MAX_TEXT})")
        for item in (message.get("quickReply") or {}).get("items", []):
            label = (item.get("action") or {}).get("label", "")
            if len(label) > MAX_LABEL:
                errors.append(f"quick reply label {label!r} over {MAX_LABEL} characters")
    for area in (body or {}).get("areas", []) if isinstance(body, dict) else []:
        label = (area.get("action") or {}).get("label", "")
        if len(label) > MAX_LABEL:
            errors.append(f"rich menu action label {label!r} over {MAX_LABEL} characters")
    return errors


class LineApiStub:
    """The stand-in server's state: calls made, violations, tokens, quota, rich menus."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.calls: list[tuple[str, str, Any]] = []  # (method, path, JSON body or bytes)
        self.delivered: list[Json] = []  # message objects LINE accepted, in order
        self.violations: list[str] = []
        self.tokens: dict[str, str] = {}  # reply token -> "fresh" | "used" | "expired"
        self.quota_limit: int | None = None
        self.pushes = 0
        self.languages: dict[str, str] = {}
        self.rich_menus: dict[str, Json] = {}
        self.images: dict[str, bytes] = {}
        self.default_menu: str | None = None
        self.user_menus: dict[str, str] = {}
        self.webhook_endpoint: str | None = None
        self._failures: list[tuple[str, int, str]] = []
        self._ids = itertools.count(1)

    # -- test controls -------------------------------------------------------------------

    def reply_token(self, *, expired: bool = False) -> str:
        token = f"rt{next(self._ids):06d}"
        self.tokens[token] = "expired" if expired else "fresh"
        return token

    def fail_next(self, path: str, status: int, message: str) -> None:
        self._failures.append((path, status, message))

    def calls_to(self, path: str) -> list[Any]:
        return [body for _m, p, body in self.calls if p == path]

    def sent_messages(self) -> list[Json]:
        """Every message object LINE accepted (by reply or push), in order."""
        return list(self.delivered)

    def texts(self) -> str:
        return "\n".join(m.get("text", "") for m in self.sent_messages())

    # -- server --------------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls) -> AsyncIterator[LineApiStub]:
        messaging_api()  # read the document before the clock of any test starts
        stub = cls(free_port())
        app = Starlette(
            routes=[Route("/{path:path}", stub.handle, methods=["GET", "POST", "PUT", "DELETE"])]
        )
        async with serving(app, stub.port):
            yield stub

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        path = request.url.path
        body: Any = raw
        if request.headers.get("content-type", "").startswith("application/json") and raw:
            body = json.loads(raw)
        self.calls.append((request.method, path, body))
        errors = check_limits(body)
        try:
            messaging_api().validate_request(_Request(request, raw))
        except OpenAPIError as exc:
            errors.append(f"{exc}: {getattr(exc, '__cause__', '')}")
        if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            errors.append("missing or wrong bearer token")
        if errors:
            self.violations += [f"{request.method} {path}: {e}" for e in errors]
            return JSONResponse({"message": "; ".join(errors)}, status_code=400)
        for index, (failing, status, message) in enumerate(self._failures):
            if failing == path:
                del self._failures[index]
                return JSONResponse({"message": message}, status_code=status)
        return self.answer(request.method, path, body)

    def answer(self, method: str, path: str, body: Any) -> Response:
        parts = path.strip("/").split("/")
        if path == "/v2/bot/message/reply":
            state = self.tokens.get(body["replyToken"])
            if state != "fresh":
                return JSONResponse({"message": "Invalid reply token"}, status_code=400)
            self.tokens[body["replyToken"]] = "used"
            return JSONResponse({"sentMessages": self._sent(body)})
        if path == "/v2/bot/message/push":
            if self.quota_limit is not None and self.pushes >= self.quota_limit:
                return JSONResponse({"message": "You have reached your monthly limit."}, 429)
            self.pushes += 1
            return JSONResponse({"sentMessages": self._sent(body)})
        if path == "/v2/bot/message/quota":
            if self.quota_limit is None:
                return JSONResponse({"type": "none"})
            return JSONResponse({"type": "limited", "value": self.quota_limit})
        if path == "/v2/bot/message/quota/consumption":
            return JSONResponse({"totalUsage": self.pushes})
        if parts[:3] == ["v2", "bot", "profile"]:
            user = parts[3]
            profile = {"displayName": "Ming", "userId": user}
            if user in self.languages:
                profile["language"] = self.languages[user]
            return JSONResponse(profile)
        if path == "/v2/bot/chat/loading/start":
            return JSONResponse({}, status_code=202)
        if path == "/v2/bot/richmenu" and method == "POST":
            menu_id = f"richmenu-{next(self._ids):04d}"
            self.rich_menus[menu_id] = body
            return JSONResponse({"richMenuId": menu_id})
        if path == "/v2/bot/richmenu/list":
            menus = [{"richMenuId": k, **v} for k, v in self.rich_menus.items()]
            return JSONResponse({"richmenus": menus})
        if parts[:3] == ["v2", "bot", "richmenu"] and parts[-1] == "content":
            self.images[parts[3]] = body
            return JSONResponse({})
        if parts[:3] == ["v2", "bot", "richmenu"] and method == "DELETE":
            self.rich_menus.pop(parts[3], None)
            return JSONResponse({})
        if parts[:5] == ["v2", "bot", "user", "all", "richmenu"]:
            self.default_menu = parts[5]
            return JSONResponse({})
        if parts[:3] == ["v2", "bot", "user"] and parts[4:5] == ["richmenu"]:
            self.user_menus[parts[3]] = parts[5]
            return JSONResponse({})
        if path == "/v2/bot/channel/webhook/endpoint":
            self.webhook_endpoint = body["endpoint"]
            return JSONResponse({})
        if path == "/v2/bot/channel/webhook/test":
            return JSONResponse(
                {
                    "success": True,
                    "timestamp": "2026-11-30T12:00:00Z",
                    "statusCode": 200,
                    "reason": "OK",
                    "detail": "200",
                }
            )
        if path == "/v2/bot/info":
            return JSONResponse(
                {
                    "userId": "Ubot",
                    "basicId": "@helpdesk",
                    "displayName": "Helpdesk",
                    "chatMode": "bot",
                    "markAsReadMode": "auto",
                }
            )
        return JSONResponse({"message": f"the stand-in does not serve {path}"}, status_code=404)

    def _sent(self, body: Json) -> list[Json]:
        self.delivered.extend(body["messages"])
        return [{"id": str(next(self._ids))} for _ in body["messages"]]
