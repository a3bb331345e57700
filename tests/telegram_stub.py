"""A stand-in Telegram Bot API server that checks every call against the published spec.

The spec is ``tests/data/telegram-bot-api-10.0.json`` (see ``tests/data/README.md``).
Each call is checked for: a method the API has, required fields present, no unknown
fields, and each value of one of the field's types, recursively through objects. A
violation is answered with 400 and appended to ``BotApiStub.violations``.

python-telegram-bot never sends a JSON body: it sends every parameter as a form field
(urlencoded, or multipart when a file is uploaded), strings as they are and everything
else JSON-encoded (``42``, ``true``, ``{"inline_keyboard": ...}``). So top-level form
values are decoded by the field's declared types; values inside JSON are checked strictly.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import re
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.live import free_port, serving

SPEC_PATH = Path(__file__).parent / "data" / "telegram-bot-api-10.0.json"
_SCALARS = frozenset({"Integer", "String", "Boolean", "Float", "InputFile"})
_CONST = re.compile(r'(?:must be|always) "?([a-z0-9_]+)"?$')
_INT = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(r"\d+:[\w-]+")
# InlineKeyboardButton: "Exactly one of the fields other than text, icon_custom_emoji_id,
# and style must be used to specify the type of the button."
_BUTTON_LOOKS = frozenset({"text", "icon_custom_emoji_id", "style"})
Json = dict[str, Any]


@functools.cache
def load_spec() -> Json:
    spec: Json = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    size: int


def _decode(value: Any, types: list[str], form: bool) -> Any:
    """Turn a top-level value into what the caller meant, by the field's types."""
    if not isinstance(value, str):
        return value
    if form and "Integer" in types and _INT.fullmatch(value):
        return int(value)
    if form and "Float" in types and _FLOAT.fullmatch(value):
        return float(value)
    if form and "Boolean" in types and value in ("true", "false"):
        return value == "true"
    if any(t not in _SCALARS for t in types) and value.startswith(("{", "[")):
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


class _Checker:
    """Checks values against the spec's types; ``errors`` collects what is wrong."""

    def __init__(self, types: Json, uploads: dict[str, Upload]) -> None:
        self.types = types
        self.uploads = uploads
        self.attached: set[str] = set()
        self.errors: list[str] = []

    def call(self, method: Json, params: Json, form: bool) -> Json:
        """Check one call's parameters; return them decoded (uploads as ``Upload``)."""
        fields = {f["name"]: f for f in method.get("fields", [])}
        values = dict(params)
        for name, upload in self.uploads.items():
            if name in fields:
                if name in values:
                    self.errors.append(f"{name!r} is both a file and a form field")
                values[name] = upload
        values = {
            k: _decode(v, fields[k]["types"], form) if k in fields else v for k, v in values.items()
        }
        self.errors += self.fields(method.get("fields", []), values, method["name"], False)
        where = method["name"]
        if "inline_message_id" in fields and "inline_message_id" not in values:
            missing = {"chat_id", "message_id"} & fields.keys() - values.keys()
            self.errors += [f"{where}: no inline_message_id, so {n!r} is required" for n in missing]
        for name in self.uploads.keys() - fields.keys() - self.attached:
            self.errors.append(f"{where}: file part {name!r} is no field, no attach:// target")
        return values

    def fields(self, fields: list[Json], obj: Json, where: str, attach: bool) -> list[str]:
        known = {f["name"]: f for f in fields}
        errors = [f"{where}: unknown field {k!r}" for k in obj if k not in known]
        for name, field in known.items():
            if name in obj:
                can_attach = attach or "InputFile" in field["types"]
                errors += self.check(obj[name], field["types"], f"{where}.{name}", can_attach)
            elif field["required"]:
                errors.append(f"{where}: missing required field {name!r}")
        return errors

    def check(self, value: Any, types: list[str], where: str, attach: bool) -> list[str]:
        """No errors if ``value`` is one of ``types``; else those of the closest type."""
        arrays = [t.removeprefix("Array of ") for t in types if t.startswith("Array of ")]
        if len(arrays) > 1:  # the spec splits "Array of A, B and C", whose items may mix
            types = [t for t in types if not t.startswith("Array of ")]
            types.append("Array of " + "|".join(arrays))
        candidates = [e for t in types if (e := self.one(value, t, where, attach)) is not None]
        if any(not errors for errors in candidates):
            return []
        if candidates:
            return min(candidates, key=len)
        kind = "file upload" if isinstance(value, Upload) else type(value).__name__
        return [f"{where}: expected {' or '.join(types)}, got {kind} {value!r:.60}"]

    def one(self, value: Any, t: str, where: str, attach: bool) -> list[str] | None:
        """None if ``value`` is not even shaped like ``t``; else the errors (maybe none)."""
        if t in ("Integer", "Float", "Boolean"):
            wanted: tuple[type, ...] = {"Integer": (int,), "Float": (int, float)}.get(t, (bool,))
            is_bool = isinstance(value, bool)
            ok = isinstance(value, wanted) and (is_bool == (t == "Boolean"))
            return [] if ok else None
        if t == "InputFile" and isinstance(value, Upload):
            return []
        if t in ("String", "InputFile"):
            return self.string(value, where, attach) if isinstance(value, str) else None
        if t.startswith("Array of "):
            if not isinstance(value, list):
                return None
            inner = t.removeprefix("Array of ").split("|")
            items = [self.check(v, inner, f"{where}[{i}]", attach) for i, v in enumerate(value)]
            return [error for errors in items for error in errors]
        spec = self.types.get(t)
        if spec is None:
            return [f"{where}: the spec has no type {t!r}"]
        if not isinstance(value, dict):
            return None
        if "subtypes" in spec:
            return self.variant(value, spec["subtypes"], t, where)
        return self.obj(value, t, where)

    def string(self, value: str, where: str, attach: bool) -> list[str]:
        if not (attach and value.startswith("attach://")):
            return []
        name = value.removeprefix("attach://")
        self.attached.add(name)
        return [] if name in self.uploads else [f"{where}: {value!r} names no uploaded file part"]

    def obj(self, value: Json, t: str, where: str) -> list[str]:
        fields = self.types[t].get("fields", [])
        errors = self.fields(fields, value, f"{where}<{t}>", t.startswith("Input"))
        for name, const in _consts(self.types, t).items():
            if name in value and value[name] != const:
                errors.append(f"{where}<{t}>.{name}: must be {const!r}, got {value[name]!r:.60}")
        if t == "InlineKeyboardButton":
            kinds = sorted(value.keys() - _BUTTON_LOOKS)
            if len(kinds) != 1:
                errors.append(f"{where}: a button needs exactly one action field, got {kinds}")
            data = value.get("callback_data")
            if isinstance(data, str) and not 1 <= len(data.encode()) <= 64:
                errors.append(f"{where}.callback_data: must be 1-64 bytes: {data!r}")
        return errors

    def variant(self, value: Json, subtypes: list[str], t: str, where: str) -> list[str]:
        for sub in subtypes:
            consts = _consts(self.types, sub)
            if consts and all(value.get(k) == c for k, c in consts.items()):
                return self.obj(value, sub, where)
        tagged = {k for sub in subtypes for k in _consts(self.types, sub)}
        if tagged & value.keys():
            tags = {k: value[k] for k in tagged & value.keys()}
            return [f"{where}: no kind of {t} has {tags}"]
        attempts = [self.obj(value, sub, where) for sub in subtypes]
        return [] if any(not a for a in attempts) else [f"{where}: matches no kind of {t}"]


def _consts(types: Json, t: str) -> dict[str, str]:
    """Fields a concrete type fixes, e.g. InputMediaPhoto's type "photo"."""
    found = {}
    for field in types[t].get("fields", []):
        match = _CONST.search(field["description"])
        if field["required"] and field["types"] == ["String"] and match:
            found[field["name"]] = match.group(1)
    return found


def _recorded(value: Any, uploads: dict[str, Upload]) -> Any:
    """A call's parameters for ``calls``: files (also via attach://) as {"file", "size"}."""
    if isinstance(value, str) and value.startswith("attach://"):
        value = uploads.get(value.removeprefix("attach://"), value)
    if isinstance(value, Upload):
        return {"file": value.filename, "size": value.size}
    if isinstance(value, dict):
        return {k: _recorded(v, uploads) for k, v in value.items()}
    if isinstance(value, list):
        return [_recorded(v, uploads) for v in value]
    return value


class BotApiStub:
    """The Bot API on 127.0.0.1; see ``running()``. Pass ``base_url`` to PTB's ``Bot``."""

    def __init__(self) -> None:
        self.spec = load_spec()
        self.methods: dict[str, Json] = {n.lower(): m for n, m in self.spec["methods"].items()}
        self.violations: list[str] = []
        self.calls: list[tuple[str, Json]] = []
        self.base_url = ""
        self.webhook_url = ""
        self._updates: list[Json] = []
        self._last_update_id = 0
        self._update_arrived = asyncio.Event()
        self._faults: dict[str, list[Json]] = {}
        self._message_ids: dict[int, Iterator[int]] = {}
        self._messages: dict[tuple[int, int], Json] = {}
        self._file_ids = itertools.count(1)
        route = Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])
        self.app = Starlette(routes=[route])

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls) -> AsyncIterator[BotApiStub]:
        stub = cls()
        async with serving(stub.app, free_port()) as url:
            stub.base_url = f"{url}/bot"
            try:
                yield stub
            finally:
                stub._update_arrived.set()  # release a long poll still waiting

    def calls_to(self, method: str) -> list[Json]:
        return [params for name, params in self.calls if name.lower() == method.lower()]

    def push_update(self, update: Json) -> Json:
        """Queue an Update for getUpdates (update_id assigned if absent); must fit the spec."""
        update = {"update_id": self._last_update_id + 1, **update}
        checker = _Checker(self.spec["types"], {})
        errors = checker.check(update, ["Update"], "update", False)
        if errors or update["update_id"] <= self._last_update_id:
            raise ValueError(f"not a well-formed, newer Update: {errors or update['update_id']}")
        self._last_update_id = update["update_id"]
        self._updates.append(update)
        self._update_arrived.set()
        return update

    def fail_next(
        self, method: str, error_code: int = 429, retry_after: int = 1, description: str = ""
    ) -> None:
        """Answer the next valid call to ``method`` with this error instead."""
        if method.lower() not in self.methods:
            raise ValueError(f"the Bot API has no method {method!r}")
        default = {429: f"Too Many Requests: retry after {retry_after}", 403: "Forbidden"}
        body: Json = {"ok": False, "error_code": error_code}
        body["description"] = description or default.get(error_code, "Bad Request: injected")
        if error_code == 429:
            body["parameters"] = {"retry_after": retry_after}
        self._faults.setdefault(method.lower(), []).append(body)

    def _refuse(self, description: str, code: int = 400) -> JSONResponse:
        self.violations.append(description)
        body = {"ok": False, "error_code": code, "description": description}
        return JSONResponse(body, status_code=code)

    async def _endpoint(self, request: Request) -> JSONResponse:
        token, name = request.path_params["token"], request.path_params["method"]
        try:
            params, uploads, form = await _read(request)
        except ValueError as exc:
            self.calls.append((name, {}))
            return self._refuse(f"Bad Request: {name}: {exc}")
        method = self.methods.get(name.lower())
        checker = _Checker(self.spec["types"], uploads)
        values = checker.call(method, params, form) if method else params
        self.calls.append((method["name"] if method else name, _recorded(values, uploads)))
        if not _TOKEN.fullmatch(token):
            return self._refuse(f"Unauthorized: malformed token {token!r}", 401)
        if method is None:
            return self._refuse(f"Not Found: method {name!r} is not in the Bot API")
        if checker.errors:
            return self._refuse("Bad Request: " + "; ".join(checker.errors))
        if faults := self._faults.get(name.lower()):
            fault = faults.pop(0)
            return JSONResponse(fault, status_code=fault["error_code"])
        if method["name"] == "getUpdates" and self.webhook_url:
            return self._refuse("Conflict: can't use getUpdates while a webhook is set", 409)
        bot = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": "Helpdesk Test Bot"}
        bot["username"] = "helpdesk_test_bot"
        result = await self._answer(method, values, bot)
        if result is None:
            return self._refuse(f"stub has no canned answer for {method['name']}", 501)
        return JSONResponse({"ok": True, "result": result})

    async def _answer(self, method: Json, params: Json, bot: Json) -> Any:
        name, returns = method["name"], method["returns"]
        if name == "getMe":
            return bot
        if name == "getUpdates":
            return await self._poll(params)
        if name == "getWebhookInfo":
            info = {"url": self.webhook_url, "has_custom_certificate": False}
            return info | {"pending_update_count": len(self._updates) if self.webhook_url else 0}
        if name in ("setWebhook", "deleteWebhook"):
            self.webhook_url = params.get("url", "")
            if params.get("drop_pending_updates"):
                self._updates.clear()
        if "Message" in returns and "inline_message_id" not in params:
            return self._message(name, params, bot)
        if "Boolean" in returns:
            return True
        if returns == ["Array of Message"]:  # sendMediaGroup: a message per item
            return [self._message(name, params | {"media": m}, bot) for m in params["media"]]
        if returns in (["MessageId"], ["Array of MessageId"]):
            chat_id = self._chat(params["chat_id"])["id"]
            ids = [
                {"message_id": self._next_message_id(chat_id)}
                for _ in params.get("message_ids", [0])
            ]
            return ids if returns != ["MessageId"] else ids[0]
        return None

    async def _poll(self, params: Json) -> list[Json]:
        offset = params.get("offset")
        if isinstance(offset, int):  # confirm (forget) updates below the offset, as Telegram does
            keep = self._updates[offset:] if offset < 0 else self._updates
            self._updates = [u for u in keep if offset < 0 or u["update_id"] >= offset]
        if not self._updates and params.get("timeout", 0) > 0:
            self._update_arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(params["timeout"], 1.0)):
                    await self._update_arrived.wait()
        return self._updates[: params.get("limit", 100)]

    def _chat(self, chat_id: int | str) -> Json:
        if isinstance(chat_id, int):
            kind = "private" if chat_id > 0 else "supergroup"
            return {"id": chat_id, "type": kind} | ({"title": "Test group"} if chat_id < 0 else {})
        number = -(10**12 + zlib.crc32(chat_id.encode()))  # "@username": a channel
        return {"id": number, "type": "channel", "title": chat_id, "username": chat_id[1:]}

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _message(self, name: str, params: Json, bot: Json) -> Json:
        chat, now = self._chat(params["chat_id"]), int(time.time())
        if name.startswith("edit"):
            key = (chat["id"], params["message_id"])
            message = dict(self._messages.get(key, {"message_id": key[1], "date": now}))
            message["edit_date"] = now
        else:
            message = {"message_id": self._next_message_id(chat["id"]), "date": now}
        message.update({"chat": chat, "from": bot})
        if name in ("sendMessage", "editMessageText"):
            message["text"] = params["text"]
        media = params.get("media") if isinstance(params.get("media"), dict) else None
        if name == "sendPhoto" or (media and media.get("type") == "photo"):
            message.pop("text", None)
            message["photo"] = _photo_sizes(next(self._file_ids))
        if media or name == "editMessageCaption":
            message.pop("caption", None)
        if caption := (media or params).get("caption"):
            message["caption"] = caption
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        elif name.startswith("edit"):
            message.pop("reply_markup", None)  # an edit without a keyboard removes it
        self._messages[(chat["id"], message["message_id"])] = message
        return message


def _photo_sizes(n: int) -> list[Json]:
    ids = [{"file_id": f"photo{n}-{px}", "file_unique_id": f"u{n}-{px}"} for px in (90, 320)]
    return [size | {"width": px, "height": px} for size, px in zip(ids, (90, 320), strict=True)]


async def _read(request: Request) -> tuple[Json, dict[str, Upload], bool]:
    """The parameters, the file parts, and whether values came as form strings."""
    items: list[tuple[str, Any]] = list(request.query_params.multi_items())
    uploads: dict[str, Upload] = {}
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    form = ctype != "application/json"
    if ctype == "application/json":
        body = json.loads(await request.body())
        if not isinstance(body, dict):
            raise ValueError("a JSON body must be an object")
        items += body.items()
    elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        async with request.form() as data:
            for key, value in data.multi_items():
                if isinstance(value, UploadFile):
                    uploads[key] = Upload(value.filename or key, len(await value.read()))
                else:
                    items.append((key, value))
    elif await request.body():
        raise ValueError(f"unsupported content type {ctype!r}")
    params = dict(items)
    if len(params) < len(items):
        raise ValueError("a parameter is given more than once")
    return params, uploads, form
