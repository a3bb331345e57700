"""A stand-in Slack Web API server that checks every call against Slack's method descriptions.

The descriptions are ``tests/data/slack-web-api/methods/<group>/<method>.json`` (see
``tests/data/README.md``); only the documented groups count, not ``_undocumented``. Each
call is checked for: a method Slack documents, a well-formed token (``Authorization:
Bearer`` header, or a ``token`` argument), every required argument present and non-empty,
the ``arg_groups`` rules (e.g. chat.postMessage needs one of text, blocks, attachments,
markdown_text; not both text and markdown_text), no argument the method does not
document, values that fit the argument's type, and ``blocks`` that are Block Kit shaped.
A violation is appended to ``WebApiStub.violations`` and answered as Slack answers errors:
HTTP 200, ``{"ok": false, "error": ..., "response_metadata": {"messages": [...]}}``.

slack-sdk's ``AsyncWebClient`` sends a JSON body for the chat.* methods (``blocks`` as an
array), form fields or the query string for most others (``users.info`` is a GET), and
``files_upload_v2`` makes three requests: files.getUploadURLExternal (arguments in the
query string of a POST), a raw POST of the bytes to the ``upload_url`` it was given (no
token), then files.completeUploadExternal with ``files`` as a JSON string. Form and query
values are strings, so they are decoded by the argument's declared type; ``calls`` holds
the decoded values (JSON-string arguments such as ``blocks`` or ``files`` as JSON).

Slack behaviour mirrored on purpose: users.info returns ``locale`` only when called with
``include_locale``; posting to a user ID lands in the DM ``"D" + user`` and answers with
that channel; chat.update needs the conversation ID, not a user ID.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import mimetypes
import re
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.live import free_port, serving

SPEC_DIR = Path(__file__).parent / "data" / "slack-web-api" / "methods"
TEAM_ID = "T0001"
TEAM_NAME = "Demo"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0001"
APP_ID = "A0001"
Json = dict[str, Any]

_TOKEN = re.compile(r"(?:xox[a-z]|xoxe\.xox[a-z]|xapp)-[A-Za-z0-9-]+")
_METHOD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)+")
_TS = re.compile(r"\d+(?:\.\d+)?")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
_NO_TOKEN_GROUPS = frozenset({"oauth", "openid"})  # these authenticate with client_id/secret
# Rules Slack states in prose, not in "args" / "arg_groups": (method, one of these args).
_EXTRA_ONE_OF = {"conversations.open": ("channel", "users")}
_BLOCK_LIMITS = {"view": 100}  # a message takes 50 blocks, a modal or Home tab 100


# Arguments the real libraries send that the published reference omits, and that Slack
# accepts: slack-bolt's single-team authorization passes team_id to auth.test (for
# Enterprise Grid installs). Anything else undocumented is still a violation.
LIBRARY_EXTRAS: dict[str, frozenset[str]] = {"auth.test": frozenset({"team_id"})}


@functools.cache
def load_methods() -> dict[str, Json]:
    """Every documented method by name (``slackLists.*`` sits in the folder ``lists``)."""
    methods: dict[str, Json] = {}
    for path in sorted(SPEC_DIR.glob("[!_]*/*.json")):
        spec: Json = json.loads(path.read_text(encoding="utf-8"))
        methods[spec["name"]] = spec
    return methods


@functools.cache
def common_errors() -> frozenset[str]:
    errors: Json = json.loads((SPEC_DIR / "_errors" / "common.json").read_text("utf-8"))
    return frozenset(errors["errors"])


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request (the legacy files.upload)."""

    filename: str
    size: int


@dataclass
class ExternalFile:
    """A file started with files.getUploadURLExternal; ``size`` once its bytes arrived."""

    id: str
    filename: str
    length: int
    size: int | None = None
    title: str | None = None
    completed: bool = False
    channel_id: str | None = None


class _Refusal(Exception):
    def __init__(self, error: str, problems: list[str]) -> None:
        super().__init__(error)
        self.error = error
        self.problems = problems


def _given(value: Any) -> bool:
    return value is not None and value != "" and value != []


def _types(arg: Json) -> list[str]:
    kind = arg.get("type")
    return [kind] if isinstance(kind, str) else list(kind or [])


def _decode(name: str, value: Any, arg: Json, form: bool) -> tuple[Any, list[str]]:
    """The value the caller meant, by the argument's type; and what is wrong with it."""
    types, is_json = _types(arg), arg.get("format") == "json"
    if isinstance(value, Upload):
        ok = "file" in types or not types
        return value, [] if ok else [f"{name!r} is a file part but is no file argument"]
    if isinstance(value, str) and (is_json or {"array", "object"} & set(types)):
        if value.lstrip().startswith(("[", "{")):
            try:
                return json.loads(value), []
            except ValueError:
                return value, [f"{name!r} is not valid JSON: {value!r:.60}"]
        if is_json and "boolean" not in types:
            return value, [f"{name!r} must be JSON, got {value!r:.60}"]
    if not types:
        return value, []
    if isinstance(value, str) and form:
        if "boolean" in types and value.lower() in _BOOLEANS:
            return _BOOLEANS[value.lower()], []
        if {"integer", "number"} & set(types) and _NUMBER.fullmatch(value):
            return (float(value) if "." in value else int(value)), []
    if _fits(value, types, is_json):
        return value, []
    return value, [f"{name!r}: expected {' or '.join(types)}, got {value!r:.60}"]


def _fits(value: Any, types: list[str], is_json: bool) -> bool:
    for kind in types:
        if kind == "boolean" and isinstance(value, bool | int) and value in (0, 1):
            return True
        if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if kind == "timestamp" and isinstance(value, str) and _TS.fullmatch(value):
            return True
        if kind in ("array", "object") and isinstance(value, list | dict):
            return True
        if kind in ("channel", "user", "enum", "date") and isinstance(value, str) and value:
            return True
        if kind == "string" and (isinstance(value, str | int | float) or is_json):
            return True
        if kind not in _KNOWN_TYPES:
            return True
    return False


_KNOWN_TYPES = frozenset(
    {"boolean", "integer", "number", "timestamp", "array", "object", "channel", "user"}
    | {"enum", "date", "string"}
)


def check_blocks(blocks: Any, where: str = "blocks", limit: int = 50) -> list[str]:
    """What is wrong with a Block Kit array (empty if nothing)."""
    if not isinstance(blocks, list):
        return [f"{where}: must be a JSON array of blocks, got {type(blocks).__name__}"]
    errors = [f"{where}: at most {limit} blocks, got {len(blocks)}"] if len(blocks) > limit else []
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        here = f"{where}[{i}]"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(f'{here}: a block must be an object with a "type"')
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 1 <= len(block_id) <= 255:
                errors.append(f"{here}.block_id: must be a string of 1-255 characters")
            elif block_id in block_ids:
                errors.append(f"{here}.block_id: {block_id!r} is used twice")
            else:
                block_ids.add(block_id)
        if block["type"] == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
                errors.append(f"{here}.elements: an actions block takes 1-25 elements")
                continue
            action_ids = [e.get("action_id") for e in elements if isinstance(e, dict)]
            if len(set(action_ids) - {None}) < len([a for a in action_ids if a is not None]):
                errors.append(f"{here}.elements: action_id used twice in one block")
            for j, element in enumerate(elements):
                errors += _check_element(element, f"{here}.elements[{j}]")
        if isinstance(block.get("accessory"), dict):
            errors += _check_element(block["accessory"], f"{here}.accessory")
    return errors


def _check_element(element: Any, where: str) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f'{where}: an element must be an object with a "type"']
    if element["type"] != "button":
        return []
    errors = []
    action_id = element.get("action_id")
    if not isinstance(action_id, str) or not 1 <= len(action_id) <= 255:
        errors.append(f"{where}: a button needs an action_id of 1-255 characters")
    text = element.get("text")
    if not (
        isinstance(text, dict)
        and text.get("type") == "plain_text"
        and isinstance(text.get("text"), str)
        and 1 <= len(text["text"]) <= 75
    ):
        errors.append(f"{where}.text: a button needs plain_text text of 1-75 characters")
    value = element.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > 2000):
        errors.append(f"{where}.value: must be a string of at most 2000 characters")
    url = element.get("url")
    if url is not None and (not isinstance(url, str) or len(url) > 3000):
        errors.append(f"{where}.url: must be a string of at most 3000 characters")
    if element.get("style") not in (None, "primary", "danger"):
        errors.append(f"{where}.style: must be 'primary' or 'danger'")
    return errors


def _recorded(value: Any) -> Any:
    if isinstance(value, Upload):
        return {"file": value.filename, "size": value.size}
    return value


class WebApiStub:
    """Slack's Web API on 127.0.0.1; see ``running()``. Pass ``base_url`` to AsyncWebClient.

    ``calls``: every call as (method, decoded arguments), token left out. ``users``: per
    user ID, what users.info answers: ``locale``, ``email`` (None: no email, as without
    users:read.email), ``is_email_confirmed``, ``name``, ``display_name``, ``real_name``,
    ``tz``. ``files``: uploads by file ID. ``messages``: posted messages by (channel, ts).
    ``responses``: bodies POSTed to ``response_url`` (what bolt's ``respond()`` sends).
    """

    def __init__(self) -> None:
        self.methods = load_methods()
        self.violations: list[str] = []
        self.calls: list[tuple[str, Json]] = []
        self.users: dict[str, Json] = {}
        self.files: dict[str, ExternalFile] = {}
        self.messages: dict[tuple[str, str], Json] = {}
        self.responses: list[Json] = []
        self.base_url = ""
        self.root_url = ""
        self._faults: dict[str, list[tuple[int, Json, dict[str, str]]]] = {}
        self._seconds = itertools.count(int(time.time()))
        self._file_numbers = itertools.count(1)
        routes = [
            Route("/api/{method}", self._endpoint, methods=["GET", "POST"]),
            Route("/upload/{file_id}", self._upload, methods=["POST"]),
            Route("/respond/{key}", self._respond, methods=["POST"]),
        ]
        self.app = Starlette(routes=routes)

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls) -> AsyncIterator[WebApiStub]:
        stub = cls()
        async with serving(stub.app, free_port()) as url:
            stub.root_url = url
            stub.base_url = f"{url}/api/"
            yield stub

    @property
    def response_url(self) -> str:
        """A ``response_url`` for interactivity payloads; bodies land in ``responses``."""
        return f"{self.root_url}/respond/T0001-stub"

    def calls_to(self, method: str) -> list[Json]:
        return [params for name, params in self.calls if name == method]

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        status: int | None = None,
        retry_after: int = 1,
    ) -> None:
        """Answer the next valid call to ``method`` with ``{"ok": false, "error": error}``.

        ``status`` None: 429 (with ``Retry-After: retry_after``) for "ratelimited", else 200,
        as Slack answers errors. ``error`` must be one the method or all methods document.
        """
        spec = self.methods.get(method)
        if spec is None:
            raise ValueError(f"Slack documents no method {method!r}")
        if error not in spec.get("errors", {}) and error not in common_errors():
            raise ValueError(f"{method} documents no error {error!r}")
        status = status if status is not None else (429 if error == "ratelimited" else 200)
        headers = {"Retry-After": str(retry_after)} if status == 429 else {}
        self._faults.setdefault(method, []).append((status, {"ok": False, "error": error}, headers))

    def _refuse(self, method: str, error: str, problems: list[str]) -> JSONResponse:
        self.violations += [f"{method}: {problem}" for problem in problems]
        body = {"ok": False, "error": error}
        body["response_metadata"] = {"messages": [f"[ERROR] {p}" for p in problems]}
        return JSONResponse(body)

    async def _endpoint(self, request: Request) -> Response:
        name = request.path_params["method"]
        try:
            params, form = await _read(request)
        except ValueError as exc:
            self.calls.append((name, {}))
            return self._refuse(name, "invalid_form_data", [str(exc)])
        token = params.pop("token", None)
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer "):
            token = header.removeprefix("Bearer ")
        spec = self.methods.get(name) if _METHOD.fullmatch(name) else None
        try:
            values = self._check(name, spec, params, form)
        except _Refusal as refusal:
            self.calls.append((name, {k: _recorded(v) for k, v in params.items()}))
            return self._refuse(name, refusal.error, refusal.problems)
        self.calls.append((name, {k: _recorded(v) for k, v in values.items()}))
        assert spec is not None
        if spec["group"] not in _NO_TOKEN_GROUPS:
            if not token:
                return self._refuse(name, "not_authed", ["no token: no Authorization header"])
            if not _TOKEN.fullmatch(token):
                return self._refuse(name, "invalid_auth", [f"malformed token {token[:12]!r}"])
        if faults := self._faults.get(name):
            status, body, headers = faults.pop(0)
            return JSONResponse(body, status_code=status, headers=headers)
        try:
            return JSONResponse({"ok": True, **self._answer(name, values)})
        except _Refusal as refusal:
            return self._refuse(name, refusal.error, refusal.problems)

    def _check(self, name: str, spec: Json | None, params: Json, form: bool) -> Json:
        """The decoded arguments; raises ``_Refusal`` with what breaks the description."""
        if spec is None:
            raise _Refusal("unknown_method", [f"Slack documents no method {name!r}"])
        args: Json = spec.get("args", {})
        problems, values = [], {}
        for key, value in params.items():
            if key not in args and key in LIBRARY_EXTRAS.get(name, ()):
                values[key] = value
                continue
            if key not in args:
                problems.append(f"argument {key!r} is not documented for {name}")
                values[key] = value
                continue
            values[key], errors = _decode(key, value, args[key], form)
            problems += errors
        for key, arg in args.items():
            if arg.get("required") and key != "token" and not _given(values.get(key)):
                problems.append(f"missing required argument {key!r}")
        groups = list(spec.get("arg_groups", []))
        if name in _EXTRA_ONE_OF:
            groups.append({"args": list(_EXTRA_ONE_OF[name]), "mutually_exclusive": False})
        for group in groups:
            present = [a for a in group["args"] if _given(values.get(a))]
            if group.get("mutually_exclusive") and len(present) > 1:
                problems.append(f"give only one of {present}")
            if group.get("required", True) and not present:
                problems.append(f"give one of {group['args']}")
        if problems:
            raise _Refusal("invalid_arguments", problems)
        blocks = check_blocks(values["blocks"]) if "blocks" in values else []
        view = values.get("view")
        if isinstance(view, dict):
            if not isinstance(view.get("type"), str):
                blocks.append('view: needs a "type" (modal or home)')
            blocks += check_blocks(view.get("blocks"), "view.blocks", _BLOCK_LIMITS["view"])
        if blocks:
            malformed = not isinstance(values.get("blocks", []), list)
            raise _Refusal("invalid_blocks_format" if malformed else "invalid_blocks", blocks)
        return values

    def _next_ts(self) -> str:
        return f"{next(self._seconds)}.000100"

    def _answer(self, name: str, params: Json) -> Json:
        """The rest of an ``ok`` answer, shaped like Slack's documented examples."""
        if name == "auth.test":
            return {
                "url": "https://demo.slack.com/",
                "team": TEAM_NAME,
                "user": "helpdesk",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if name == "chat.postMessage":
            channel = _conversation(params["channel"])
            message = self._message(params, self._next_ts())
            self.messages[(channel, message["ts"])] = message
            return {"channel": channel, "ts": message["ts"], "message": message}
        if name == "chat.update":
            channel, ts = params["channel"], params["ts"]
            if channel.startswith(("U", "W")):
                problem = f"channel {channel!r} is a user ID; use the DM's ID (D...)"
                raise _Refusal("channel_not_found", [problem])
            message = self.messages.get((channel, ts), {}) | self._message(params, ts)
            message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
            self.messages[(channel, ts)] = message
            return {"channel": channel, "ts": ts, "text": message["text"], "message": message}
        if name == "chat.delete":
            self.messages.pop((params["channel"], params["ts"]), None)
            return {"channel": params["channel"], "ts": params["ts"]}
        if name == "chat.postEphemeral":
            return {"message_ts": self._next_ts()}
        if name == "users.info":
            return {"user": self._user(params["user"], bool(params.get("include_locale")))}
        if name == "conversations.open":
            return {"channel": {"id": self._dm(params)}}
        if name == "files.getUploadURLExternal":
            file_id = f"F{next(self._file_numbers):08d}"
            self.files[file_id] = ExternalFile(file_id, params["filename"], params["length"])
            return {"upload_url": f"{self.root_url}/upload/{file_id}", "file_id": file_id}
        if name == "files.completeUploadExternal":
            return {"files": self._complete(params)}
        return {}

    def _message(self, params: Json, ts: str) -> Json:
        message: Json = {"type": "message", "text": params.get("text", ""), "ts": ts}
        message |= {"user": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID, "team": TEAM_ID}
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if key in params:
                message[key] = params[key]
        return message

    def _user(self, user_id: str, include_locale: bool) -> Json:
        if not user_id.startswith(("U", "W")):
            raise _Refusal("user_not_found", [f"{user_id!r} is no user ID (U... or W...)"])
        conf = self.users.get(user_id, {})
        name = conf.get("name", user_id.lower())
        display = conf.get("display_name", name)
        real = conf.get("real_name", display)
        profile: Json = {"real_name": real, "display_name": display, "team": TEAM_ID}
        profile |= {"real_name_normalized": real, "display_name_normalized": display}
        email = conf.get("email", f"{name}@example.edu")
        if email is not None:
            profile["email"] = email
        user: Json = {"id": user_id, "team_id": TEAM_ID, "name": name, "deleted": False}
        user |= {"real_name": real, "tz": conf.get("tz", "Asia/Taipei"), "profile": profile}
        user |= {"is_bot": user_id == BOT_USER_ID, "is_admin": False, "is_owner": False}
        user["is_email_confirmed"] = conf.get("is_email_confirmed", True)
        user["updated"] = int(time.time())
        if include_locale:
            user["locale"] = conf.get("locale", "en-US")
        return user

    def _dm(self, params: Json) -> str:
        if _given(params.get("channel")):
            return str(params["channel"])
        users = [u.strip() for u in str(params["users"]).split(",") if u.strip()]
        if len(users) == 1:
            return "D" + users[0]
        return "G" + "".join(sorted(users))

    def _complete(self, params: Json) -> list[Json]:
        items = params["files"]
        if not isinstance(items, list) or not items:
            raise _Refusal("invalid_arguments", ["'files' must be a non-empty JSON array"])
        problems, done = [], []
        for i, item in enumerate(items):
            file_id = item.get("id") if isinstance(item, dict) else None
            found = self.files.get(file_id) if isinstance(file_id, str) else None
            if found is None:
                problems.append(f"files[{i}]: {file_id!r} is no ID from getUploadURLExternal")
            elif found.size is None:
                problems.append(f"files[{i}]: no bytes were uploaded for {file_id}")
            elif found.size != found.length:
                problems.append(f"files[{i}]: {found.size} bytes uploaded, length {found.length}")
            elif found.completed:
                problems.append(f"files[{i}]: {file_id} was completed before")
            else:
                done.append((found, item))
        if problems:
            raise _Refusal("file_not_found", problems)
        answer = []
        for found, item in done:
            found.completed, found.channel_id = True, params.get("channel_id")
            found.title = item.get("title") or found.filename
            kind = mimetypes.guess_type(found.filename)[0] or "application/octet-stream"
            answer.append(
                {"id": found.id, "title": found.title, "name": found.filename}
                | {"mimetype": kind, "size": found.size, "user": BOT_USER_ID}
            )
        return answer

    async def _upload(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        data = await request.body()
        found = self.files.get(file_id)
        if found is None or found.completed:
            self.violations.append(f"upload: {file_id!r} is no pending upload")
            return PlainTextResponse("Not Found", status_code=404)
        found.size = len(data)
        return PlainTextResponse(f"OK - {len(data)}")

    async def _respond(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        problems = [] if isinstance(body, dict) else ["the body must be a JSON object"]
        if isinstance(body, dict):
            self.responses.append(body)
            if "blocks" in body:
                problems += check_blocks(body["blocks"])
            if body.get("response_type") not in (None, "ephemeral", "in_channel"):
                problems.append("response_type must be 'ephemeral' or 'in_channel'")
        if problems:
            self.violations += [f"response_url: {p}" for p in problems]
            return PlainTextResponse("invalid_payload", status_code=400)
        return PlainTextResponse("ok")


def _conversation(channel: str) -> str:
    """Where a message to ``channel`` lands: a user ID means the DM with the bot."""
    return "D" + channel if channel.startswith(("U", "W")) else channel


async def _read(request: Request) -> tuple[Json, bool]:
    """The parameters (query string and body), and whether values came as form strings."""
    items: list[tuple[str, Any]] = list(request.query_params.multi_items())
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    form = ctype != "application/json"
    if ctype == "application/json":
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            raise ValueError(f"the JSON body does not parse: {exc}") from None
        if not isinstance(body, dict):
            raise ValueError("a JSON body must be an object")
        items += body.items()
    elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        async with request.form() as data:
            for key, value in data.multi_items():
                if isinstance(value, UploadFile):
                    items.append((key, Upload(value.filename or key, len(await value.read()))))
                else:
                    items.append((key, value))
    elif await request.body():
        raise ValueError(f"unsupported content type {ctype!r}")
    params = dict(items)
    if len(params) < len(items):
        raise ValueError("an argument is given more than once")
    return params, form


_CLICKS = itertools.count(1)


def signed_headers(
    signing_secret: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The headers Slack signs a request to the app with (timestamp: now if None)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def event_callback(event: Json, event_id: str, team_id: str = TEAM_ID) -> Json:
    """An Events API envelope for ``event``, as Slack POSTs it (a JSON body) to the app."""
    return {
        "token": "stub-verification-token",
        "team_id": team_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-stub-{event_id}",
    }


def block_action(
    user: str,
    channel: str,
    action_id: str,
    value: str,
    message_ts: str,
    response_url: str = "https://hooks.slack.com/actions/T0001/1/stub",
) -> Json:
    """The interactivity payload for a button click on a message the bot posted.

    Slack does not POST this as JSON: the body is form-encoded, a single field ``payload``
    holding the JSON (``Content-Type: application/x-www-form-urlencoded``); build it with
    ``form_payload()`` and sign exactly those bytes with ``signed_headers()``. Pass
    ``response_url=stub.response_url`` to catch what the app sends to it.
    """
    # Slack's action_ts and trigger_id are unique per click (microseconds, a counter).
    now = f"{time.time():.6f}"
    click = next(_CLICKS)
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "stub-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"{click}.{now}.stubtrigger",
        "team": {"id": TEAM_ID, "domain": "demo"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "directmessage" if channel[0] == "D" else channel},
        "message": {
            "type": "message",
            "ts": message_ts,
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": "",
        },
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "stub-block",
                "text": {"type": "plain_text", "text": value[:75] or "button"},
                "value": value,
                "action_ts": now,
            }
        ],
    }


def form_payload(payload: Json) -> bytes:
    """The body Slack POSTs an interactivity payload as: ``payload=<json>``, form-encoded."""
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
