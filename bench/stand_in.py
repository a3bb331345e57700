"""A light stand-in for Telegram's Bot API and Slack's Web API, on 127.0.0.1 only.

The bench runs it as its own process (``python -m bench.stand_in PORT``) so that the
bots measured share no event loop with it. It is a bare asyncio HTTP/1.1 server with
keep-alive, because a spec-checking stand-in (``tests/telegram_stub.py``) costs more per
call than the fastest peer does, and would measure itself. It still answers what the
real APIs answer for the methods the bench uses: a ``Message`` for ``sendMessage`` (with
the chat, a per-chat message id, the text and the keyboard), ``True`` for
``answerCallbackQuery``, Slack's ``ok`` bodies for ``chat.postMessage``, ``users.info``
and ``auth.test``. Anything else gets the API's own "not found" error, and is counted.

``bench/telegram_turn.py`` checks once per run, against the spec-checking stub, that
every bot measured here makes only calls the published Bot API accepts.

``GET /_stats`` answers the calls per method; ``POST /_reset`` zeroes them.
"""

from __future__ import annotations

import asyncio
import email.parser
import itertools
import json
import sys
import time
import urllib.parse
from collections import Counter
from typing import Any

Json = dict[str, Any]
BOT = {"id": 123456, "is_bot": True, "first_name": "Bench Bot", "username": "bench_bot"}
MAX_BODY = 8 << 20


class StandIn:
    """The answers; one instance per process."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.errors = 0
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._ts = itertools.count(1)

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Json:
        path, _, query = target.partition("?")
        if path == "/_stats":
            return {"calls": dict(self.calls), "errors": self.errors}
        if path == "/_reset":
            self.calls.clear()
            self.errors = 0
            return {"ok": True}
        params = dict(urllib.parse.parse_qsl(query))
        params.update(_params(headers, body))
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0].startswith("bot"):
            return self.telegram(parts[1], params)
        if len(parts) == 2 and parts[0] == "api":
            return self.slack(parts[1], params)
        self.errors += 1
        return {"ok": False, "error_code": 404, "description": "Not Found"}

    def telegram(self, name: str, params: Json) -> Json:
        self.calls[name] += 1
        if name == "getMe":
            return {"ok": True, "result": BOT}
        if name in ("answerCallbackQuery", "deleteMessage", "setWebhook", "deleteWebhook"):
            return {"ok": True, "result": True}
        if name in ("sendMessage", "sendPhoto", "editMessageMedia"):
            chat_id = int(params["chat_id"])
            counter = self._message_ids.setdefault(chat_id, itertools.count(1))
            message: Json = {
                "message_id": int(params.get("message_id") or next(counter)),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "Bench"},
                "from": BOT,
            }
            if name == "sendMessage":
                message["text"] = params["text"]
            else:
                message["photo"] = [
                    {"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90}
                ]
            markup = params.get("reply_markup")
            if isinstance(markup, str):
                markup = json.loads(markup)
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                message["reply_markup"] = markup
            return {"ok": True, "result": message}
        self.errors += 1
        return {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    def slack(self, name: str, params: Json) -> Json:
        self.calls[name] += 1
        if name == "auth.test":
            return {
                "ok": True,
                "url": "https://bench.slack.com/",
                "team": "Bench",
                "user": "bench",
                "team_id": "T0001",
                "user_id": "U0BOT",
                "bot_id": "B0001",
            }
        if name == "users.info":
            user = str(params.get("user", "U0"))
            return {
                "ok": True,
                "user": {
                    "id": user,
                    "team_id": "T0001",
                    "name": user.lower(),
                    "locale": "en-US",
                    "is_email_confirmed": False,
                    "profile": {"real_name": "Bench User"},
                },
            }
        if name in ("chat.postMessage", "chat.update"):
            channel = str(params.get("channel", ""))
            ts = params.get("ts") or f"1700000000.{next(self._ts):06d}"
            message = {"type": "message", "text": params.get("text", ""), "ts": ts}
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        self.errors += 1
        return {"ok": False, "error": "unknown_method"}


def _params(headers: dict[str, str], body: bytes) -> Json:
    """Form fields (urlencoded or multipart) or a JSON object, as the clients send them."""
    if not body:
        return {}
    ctype = headers.get("content-type", "")
    kind = ctype.split(";")[0].strip().lower()
    if kind == "application/json":
        value = json.loads(body)
        return value if isinstance(value, dict) else {}
    if kind == "multipart/form-data":
        message = email.parser.BytesParser().parsebytes(
            b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body
        )
        fields: Json = {}
        for part in message.get_payload():  # type: ignore[union-attr]
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            fields[str(name)] = payload.decode("utf-8", "replace")
        return fields
    return dict(urllib.parse.parse_qsl(body.decode("utf-8")))


class _Connection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive; Content-Length or chunked request bodies."""

    def __init__(self, app: StandIn) -> None:
        self.app = app
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and not self.transport.is_closing():
            request = self._take_request()
            if request is None:
                return
            method, target, headers, body = request
            answer = json.dumps(self.app.handle(method, target, headers, body)).encode()
            status = b"200 OK" if b'"ok": false' not in answer[:20] else b"400 Bad Request"
            self.transport.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(answer)).encode() + b"\r\n\r\n" + answer
            )
            if headers.get("connection", "").lower() == "close":
                self.transport.close()

    def _take_request(self) -> tuple[str, str, dict[str, str], bytes] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        start = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            at = start
            while True:
                eol = self.buffer.find(b"\r\n", at)
                if eol < 0:
                    return None
                size = int(bytes(self.buffer[at:eol]).split(b";")[0], 16)
                if len(self.buffer) < eol + 2 + size + 2:
                    return None
                body += self.buffer[eol + 2 : eol + 2 + size]
                at = eol + 2 + size + 2
                if size == 0:
                    break
            del self.buffer[:at]
            return method, target, headers, bytes(body)
        length = min(int(headers.get("content-length", "0")), MAX_BODY)
        if len(self.buffer) < start + length:
            return None
        body_bytes = bytes(self.buffer[start : start + length])
        del self.buffer[: start + length]
        return method, target, headers, body_bytes


async def serve(port: int, seconds: float) -> None:
    """Serve on 127.0.0.1:``port`` for at most ``seconds`` (the bench stops it sooner)."""
    app = StandIn()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(app), "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await asyncio.sleep(seconds)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 900.0))
