"""The Web API stand-in catches what Slack's method descriptions forbid, driven by slack-sdk."""

from __future__ import annotations

import io
import json
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest
from PIL import Image
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.slack_stub import (
    WebApiStub,
    block_action,
    event_callback,
    form_payload,
    signed_headers,
)

pytest_plugins = ["tests.slack_fixtures"]

TOKEN = "xoxb-test"
BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Reset your password?"}},
    {
        "type": "actions",
        "block_id": "reset",
        "elements": [
            {
                "type": "button",
                "action_id": "reset.yes",
                "text": {"type": "plain_text", "text": "Yes"},
                "value": "yes",
                "style": "primary",
            },
            {
                "type": "button",
                "action_id": "reset.no",
                "text": {"type": "plain_text", "text": "No"},
                "value": "no",
            },
        ],
    },
]


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
async def lax_api() -> AsyncIterator[WebApiStub]:
    """A stub for tests that break the spec on purpose (they check ``violations`` themselves)."""
    async with WebApiStub.running() as stub:
        yield stub


@pytest.fixture
async def client(slack_api: WebApiStub) -> AsyncIterator[AsyncWebClient]:
    """slack-sdk's client with one session, closed before the stub stops."""
    async with aiohttp.ClientSession() as session:
        yield AsyncWebClient(token=TOKEN, base_url=slack_api.base_url, session=session, timeout=5)


@pytest.fixture
async def lax_client(lax_api: WebApiStub) -> AsyncIterator[AsyncWebClient]:
    async with aiohttp.ClientSession() as session:
        yield AsyncWebClient(token=TOKEN, base_url=lax_api.base_url, session=session, timeout=5)


async def raw_post(stub: WebApiStub, method: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.post(f"{stub.base_url}{method}", headers=headers, **kwargs)


async def test_post_message_with_blocks_passes(
    slack_api: WebApiStub, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(channel="C0HELP", text="Reset?", blocks=BLOCKS)
    second = await client.chat_postMessage(channel="U0ALICE", text="hi")

    assert first["ok"] is True and first["channel"] == "C0HELP"
    assert first["message"]["blocks"] == BLOCKS and first["message"]["user"] == "U0BOT"
    assert first["ts"].endswith(".000100") and float(second["ts"]) > float(first["ts"])
    assert second["channel"] == "DU0ALICE"  # a user ID lands in the DM
    assert slack_api.calls_to("chat.postMessage")[0] == {
        "channel": "C0HELP",
        "text": "Reset?",
        "blocks": BLOCKS,
    }


async def test_form_encoded_blocks_are_decoded(slack_api: WebApiStub) -> None:
    data = {"channel": "C0HELP", "text": "Reset?", "blocks": json.dumps(BLOCKS)}
    response = await raw_post(slack_api, "chat.postMessage", data=data)

    assert response.json()["ok"] is True
    assert slack_api.calls_to("chat.postMessage") == [data | {"blocks": BLOCKS}]


async def test_auth_test_and_conversations_open(client: AsyncWebClient) -> None:
    auth = await client.auth_test()
    opened = await client.conversations_open(users=["U0ALICE"])

    assert (auth["team_id"], auth["user_id"], auth["bot_id"]) == ("T0001", "U0BOT", "B0001")
    assert opened["channel"]["id"] == "DU0ALICE"


async def test_users_info_returns_the_configured_user(
    slack_api: WebApiStub, client: AsyncWebClient
) -> None:
    slack_api.users["U0ALICE"] = {
        "locale": "zh-TW",
        "email": "alice@ntu.edu.tw",
        "is_email_confirmed": True,
    }

    info = await client.users_info(user="U0ALICE", include_locale=True)
    plain = await client.users_info(user="U0BOB")

    user = info["user"]
    assert (user["id"], user["team_id"], user["locale"]) == ("U0ALICE", "T0001", "zh-TW")
    assert user["profile"]["email"] == "alice@ntu.edu.tw" and user["is_email_confirmed"] is True
    assert "locale" not in plain["user"]  # as Slack: only with include_locale
    assert slack_api.calls_to("users.info")[0] == {"user": "U0ALICE", "include_locale": True}


async def test_files_upload_v2_three_steps(slack_api: WebApiStub, client: AsyncWebClient) -> None:
    data = png()

    result = await client.files_upload_v2(content=data, filename="card.png", channel="C0HELP")

    file_id = result["file"]["id"]
    assert file_id == result["files"][0]["id"] and file_id in slack_api.files
    assert result["file"]["title"] == "card.png" and result["file"]["mimetype"] == "image/png"
    stored = slack_api.files[file_id]
    assert (stored.size, stored.completed, stored.channel_id) == (len(data), True, "C0HELP")
    assert slack_api.calls_to("files.getUploadURLExternal") == [
        {"filename": "card.png", "length": len(data)}
    ]
    completed = slack_api.calls_to("files.completeUploadExternal")[0]
    assert completed["files"] == [{"id": file_id, "title": "card.png"}]


async def test_complete_without_upload_is_refused(lax_api: WebApiStub) -> None:
    start = await raw_post(
        lax_api, "files.getUploadURLExternal", data={"filename": "a", "length": 3}
    )
    file_id = start.json()["file_id"]

    done = await raw_post(
        lax_api, "files.completeUploadExternal", data={"files": json.dumps([{"id": file_id}])}
    )

    assert done.json()["error"] == "file_not_found"
    assert lax_api.violations == [
        f"files.completeUploadExternal: files[0]: no bytes were uploaded for {file_id}"
    ]
    lax_api.violations.clear()


async def test_chat_update_passes(slack_api: WebApiStub, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0HELP", text="Reset?", blocks=BLOCKS)

    updated = await client.chat_update(channel="C0HELP", ts=posted["ts"], text="Done", blocks=[])

    assert (updated["channel"], updated["ts"], updated["text"]) == ("C0HELP", posted["ts"], "Done")
    assert slack_api.messages[("C0HELP", posted["ts"])]["text"] == "Done"


async def test_update_by_user_id_is_refused(
    lax_api: WebApiStub, lax_client: AsyncWebClient
) -> None:
    with pytest.raises(SlackApiError) as caught:
        await lax_client.chat_update(channel="U0ALICE", ts="1.000100", text="Done")

    assert caught.value.response["error"] == "channel_not_found"
    assert len(lax_api.violations) == 1
    lax_api.violations.clear()


async def test_missing_required_argument_is_refused(lax_api: WebApiStub) -> None:
    response = await raw_post(lax_api, "chat.postMessage", data={"text": "hi"})

    assert response.status_code == 200
    assert response.json()["ok"] is False and response.json()["error"] == "invalid_arguments"
    assert lax_api.calls == [("chat.postMessage", {"text": "hi"})]
    assert lax_api.violations == ["chat.postMessage: missing required argument 'channel'"]
    lax_api.violations.clear()


async def test_message_without_content_is_refused(lax_api: WebApiStub) -> None:
    response = await raw_post(lax_api, "chat.postMessage", data={"channel": "C0HELP"})

    assert response.json()["error"] == "invalid_arguments"
    assert "give one of" in lax_api.violations[0]
    lax_api.violations.clear()


async def test_unknown_method_and_argument_are_refused(
    lax_api: WebApiStub, lax_client: AsyncWebClient
) -> None:
    with pytest.raises(SlackApiError) as caught:
        await lax_client.api_call("chat.postMessages", json={"channel": "C0HELP", "text": "hi"})
    undocumented = await raw_post(lax_api, "chat.postMessage", data={"channel": "C", "txt": "hi"})

    assert caught.value.response["error"] == "unknown_method"
    assert undocumented.json()["error"] == "invalid_arguments"
    assert (
        lax_api.violations[0] == "chat.postMessages: Slack documents no method 'chat.postMessages'"
    )
    assert "argument 'txt' is not documented" in lax_api.violations[1]
    lax_api.violations.clear()


async def test_malformed_blocks_are_refused(
    lax_api: WebApiStub, lax_client: AsyncWebClient
) -> None:
    button = {"type": "button", "text": {"type": "plain_text", "text": "Go"}, "value": "v" * 2001}
    blocks: list[dict[str, Any]] = [{"text": "no type"}, {"type": "actions", "elements": [button]}]

    with pytest.raises(SlackApiError) as caught:
        await lax_client.chat_postMessage(channel="C0HELP", text="hi", blocks=blocks)

    assert caught.value.response["error"] == "invalid_blocks"
    assert lax_api.violations == [
        'chat.postMessage: blocks[0]: a block must be an object with a "type"',
        "chat.postMessage: blocks[1].elements[0]: a button needs an action_id of 1-255 characters",
        "chat.postMessage: blocks[1].elements[0].value: "
        "must be a string of at most 2000 characters",
    ]
    lax_api.violations.clear()


async def test_missing_token_is_refused(lax_api: WebApiStub) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.post(f"{lax_api.base_url}auth.test")

    assert response.json()["error"] == "not_authed" and len(lax_api.violations) == 1
    lax_api.violations.clear()


async def test_fail_next_answers_ratelimited(slack_api: WebApiStub, client: AsyncWebClient) -> None:
    slack_api.fail_next("chat.postMessage", retry_after=3)
    slack_api.fail_next("chat.postMessage", error="channel_not_found")

    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel="C0HELP", text="hi")
    with pytest.raises(SlackApiError) as missing:
        await client.chat_postMessage(channel="C0HELP", text="hi")
    after = await client.chat_postMessage(channel="C0HELP", text="hi")

    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "3"
    assert limited.value.response["error"] == "ratelimited"
    assert (missing.value.response.status_code, missing.value.response["error"]) == (
        200,
        "channel_not_found",
    )
    assert after["ok"] is True
    with pytest.raises(ValueError, match="documents no error"):
        slack_api.fail_next("auth.test", error="no_such_error")


async def test_client_without_own_session_leaks_nothing(slack_api: WebApiStub) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=slack_api.base_url, timeout=5)

    result = await client.files_upload_v2(content=b"hello", filename="note.txt")

    assert result["file"]["name"] == "note.txt" and slack_api.files[result["file"]["id"]].size == 5


async def test_response_url_records_what_respond_sends(slack_api: WebApiStub) -> None:
    body = {"replace_original": True, "text": "Done", "blocks": BLOCKS[:1]}
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.post(slack_api.response_url, json=body)

    assert (response.status_code, response.text) == (200, "ok")
    assert slack_api.responses == [body]


def test_signed_headers_verify() -> None:
    payload = block_action("U0ALICE", "DU0ALICE", "reset.yes", "yes", "1700000000.000100")
    body = form_payload(payload)

    headers = signed_headers("s3cret", body)

    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    assert json.loads(urllib.parse.parse_qs(body.decode())["payload"][0]) == payload
    assert signed_headers("s3cret", body, 1_700_000_000)["X-Slack-Request-Timestamp"] == (
        "1700000000"
    )


def test_event_callback_envelope() -> None:
    event = {"type": "message", "channel": "DU0ALICE", "user": "U0ALICE", "text": "hi"}

    envelope = event_callback(event | {"ts": "1.000100"}, "Ev0001")

    assert envelope["type"] == "event_callback" and envelope["event_id"] == "Ev0001"
    assert envelope["team_id"] == "T0001" and envelope["event"]["text"] == "hi"
