"""deploy/: Debian's nginx with our site, in front of ``helpdesk serve --workers 2`` on PostgreSQL.

The site file runs as written, with only its addresses, ports and certificate paths
replaced; the certificate is made here. Skipped where nginx is missing, except in CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.services import Services
from core.clock import FakeClock
from tests.conftest import TEST_SECRET
from tests.factories import LIN_STUDENT_ID, add_lin, password_link
from tests.live import free_port
from tests.slack_stub import WebApiStub, event_callback, signed_headers
from tests.telegram_stub import BotApiStub

pytest_plugins = ["tests.telegram_fixtures", "tests.slack_fixtures"]
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx" / "helpdesk.conf"
UNITS = ROOT / "deploy" / "systemd"
HELPDESK = Path(sys.executable).with_name("helpdesk")
IN_CI = os.environ.get("CI") == "true"
TELEGRAM_TOKEN = "123456:deploy-test-token"
TELEGRAM_SECRET = "telegram-webhook-secret-0123456789"
SLACK_SECRET = "slack-signing-secret-0123456789"
METRICS_TOKEN = "metrics-token-0123456789"
NEW_PASSWORD = "Blue-Harbor-Lantern-42"

SLOW_MACHINE_TIMEOUT = httpx.Timeout(30.0)


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        message = f"{name} is not installed (apt-get install {name}; .ci/run does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "helpdesk.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _site(https_port: int, http_port: int, app_port: int, cert: Path, key: Path) -> str:
    """The deployed site with this test's addresses: every other line as shipped."""
    site = SITE.read_text()
    for shipped, here in {
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{app_port};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "/etc/ssl/certs/helpdesk.example.edu.tw.pem": str(cert),
        "/etc/ssl/private/helpdesk.example.edu.tw.key": str(key),
    }.items():
        assert shipped in site, shipped
        site = site.replace(shipped, here)
    # No IPv6 listeners on a test host that may not have ::1.
    return "\n".join(line for line in site.splitlines() if "listen [::]" not in line)


def _nginx_conf(folder: Path, site: Path) -> Path:
    user = "user root root;\n" if os.geteuid() == 0 else ""
    conf = folder / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"  access_log {folder}/access.log;\n"
        f"  client_body_temp_path {folder}/body;\n  proxy_temp_path {folder}/proxy;\n"
        f"  fastcgi_temp_path {folder}/fastcgi;\n  uwsgi_temp_path {folder}/uwsgi;\n"
        f"  scgi_temp_path {folder}/scgi;\n"
        f"  include {site};\n"
        "}\n"
    )
    return conf


@dataclass
class Deployment:
    public: httpx.AsyncClient  # through nginx, from 127.0.0.4
    direct: httpx.AsyncClient  # to the workers, from 127.0.0.3 (not a trusted proxy)
    app_log: Path

    def seen_client(self, probe: str) -> str:
        """The client address the workers logged for the request with this probe."""
        for line in self.app_log.read_text(errors="replace").splitlines():
            if line.startswith("{") and f"probe={probe} " in line:
                message = str(json.loads(line)["message"])
                return message.split(" - ", 1)[0].rsplit(":", 1)[0]
        raise AssertionError(f"no access log line for probe {probe}")


@pytest.fixture
def postgres(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL (TEST_DATABASE_URL)")
    return database_url


@dataclass
class Site:
    """``helpdesk serve --workers 2`` on PostgreSQL behind the deployed nginx site."""

    folder: Path
    https_port: int
    app_port: int
    cert: Path
    app: subprocess.Popen[bytes]  # the supervisor
    proxy: subprocess.Popen[bytes]  # nginx

    @property
    def app_log(self) -> Path:
        return self.folder / "app.log"

    def public_client(
        self, timeout: httpx.Timeout | float, local_address: str | None = None
    ) -> httpx.AsyncClient:
        """A client that reaches the workers through nginx over HTTPS, as the public does."""
        trusted = ssl.create_default_context(cafile=str(self.cert))
        return httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{self.https_port}",
            transport=httpx.AsyncHTTPTransport(verify=trusted, local_address=local_address),
            timeout=timeout,
        )

    async def until_ready(self, public: httpx.AsyncClient) -> None:
        await _until_ready(public, {"helpdesk serve": self.app, "nginx": self.proxy}, self.folder)


@contextlib.contextmanager
def _running_site(postgres: str, folder: Path, settings: dict[str, str]) -> Iterator[Site]:
    """Start the workers with ``settings`` on top of the common ones, and nginx in front.

    Both are stopped when the block ends.
    """
    nginx = _tool("nginx")
    cert, key = _certificate(folder)
    https_port, http_port, app_port = free_port(), free_port(), free_port()
    site = folder / "helpdesk.conf"
    site.write_text(_site(https_port, http_port, app_port, cert, key))
    env = {
        **os.environ,
        "DATABASE_URL": postgres.replace("+asyncpg", ""),
        "HELPDESK_HOME": str(folder / "var"),
        "HELPDESK_SECRET_KEY": TEST_SECRET,
        "HELPDESK_PROFILE": "demo",
        "HELPDESK_PUBLIC_URL": f"https://127.0.0.1:{https_port}",
        "HELPDESK_TRUSTED_PROXIES": '["127.0.0.1"]',
        "HELPDESK_LOG_FORMAT": "json",
        "HELPDESK_TELEGRAM_TOKEN": TELEGRAM_TOKEN,
        "HELPDESK_TELEGRAM_SECRET": TELEGRAM_SECRET,
        **settings,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [str(HELPDESK), "serve", "--port", str(app_port), "--workers", "2"]
    app = _start(command, env, folder / "app.log")
    try:
        proxy = _start(
            [nginx, "-c", str(_nginx_conf(folder, site)), "-p", str(folder), "-g", "daemon off;"],
            dict(os.environ),
            folder / "nginx.log",
        )
    except BaseException:
        _stop(app)
        raise
    try:
        yield Site(folder, https_port, app_port, cert, app, proxy)
    finally:
        _stop(proxy, app)


@pytest.fixture
async def deployment(
    postgres: str, tmp_path: Path, bot_api: BotApiStub, slack_api: WebApiStub
) -> AsyncIterator[Deployment]:
    settings = {
        "HELPDESK_ARGON2_TIME_COST": "2",
        "HELPDESK_ARGON2_MEMORY_KIB": "19456",
        "HELPDESK_ARGON2_PARALLELISM": "1",
        "HELPDESK_METRICS_TOKEN": METRICS_TOKEN,
        "HELPDESK_TELEGRAM_API_URL": bot_api.base_url,
        "HELPDESK_SLACK_BOT_TOKEN": "xoxb-deploy-test",
        "HELPDESK_SLACK_SIGNING_SECRET": SLACK_SECRET,
        "HELPDESK_SLACK_API_URL": slack_api.base_url,
    }
    with _running_site(postgres, tmp_path, settings) as site:
        # A worker's first password submission starts its hashing processes, which on a
        # busy machine takes longer than httpx's default five seconds.
        public = site.public_client(SLOW_MACHINE_TIMEOUT, local_address="127.0.0.4")
        direct = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{site.app_port}",
            transport=httpx.AsyncHTTPTransport(local_address="127.0.0.3"),
            timeout=SLOW_MACHINE_TIMEOUT,
        )
        try:
            await site.until_ready(public)
            yield Deployment(public, direct, site.app_log)
        finally:
            await public.aclose()
            await direct.aclose()


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a server in a process group of its own (uvicorn's workers are its children)."""
    with log.open("wb") as output:
        return subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _logs(folder: Path) -> str:
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
        for log in sorted(folder.glob("*.log"))
    )


async def _until_ready(
    client: httpx.AsyncClient, processes: dict[str, subprocess.Popen[bytes]], folder: Path
) -> None:
    async with asyncio.timeout(90):
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    raise AssertionError(f"{name} exited:\n{_logs(folder)}")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.25)


@pytest.fixture
def clock() -> FakeClock:
    """The workers behind nginx run on the wall clock; links must be issued on it too."""
    return FakeClock(dt.datetime.now(dt.UTC))


async def _reset_link(services: Services) -> str:
    await add_lin(services, with_account=True)
    return await password_link(services, LIN_STUDENT_ID)


async def _until(condition: Any, seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 (the stubs record calls; no event to await)
            await asyncio.sleep(0.05)


async def test_the_site_serves_the_app_over_https_to_two_workers(
    deployment: Deployment, services: Services, bot_api: BotApiStub, slack_api: WebApiStub
) -> None:
    public, direct = deployment.public, deployment.direct

    # The password page, through the proxy over HTTPS, sets a password.
    token = await _reset_link(services)
    page = await public.get(f"/password/{token}")
    assert page.status_code == 200 and page.headers["strict-transport-security"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"csrf": csrf.group(1), "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    done = await public.post(f"/password/{token}", data=form)
    assert done.status_code == 200 and "Password changed" in done.text
    # nginx refuses a body past the page's 16 KiB before any worker reads it.
    huge = await public.post(f"/password/{token}", content=b"x" * 20_000)
    assert huge.status_code == 413

    # The client address: the real one through the proxy, whatever the client claims;
    # a forwarded header from anyone else is ignored.
    spoof = {"X-Forwarded-For": "203.0.113.66"}
    await public.get("/healthz?probe=proxied", headers=spoof)
    await direct.get("/healthz?probe=direct", headers=spoof)
    await asyncio.sleep(0.3)
    assert deployment.seen_client("proxied") == "127.0.0.4"
    assert deployment.seen_client("direct") == "127.0.0.3"

    # A Telegram update delivered twice (a redelivery) is answered once.
    update = {
        "update_id": 9001,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": 4242, "type": "private"},
            "from": {"id": 4242, "is_bot": False, "first_name": "Ming", "language_code": "en"},
            "text": "/start",
        },
    }
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    for _ in range(2):
        assert (await public.post("/telegram/webhook", json=update, headers=headers)).is_success

    def greetings(calls: list[dict[str, Any]]) -> int:
        return sum("Demo University" in str(call.get("text", "")) for call in calls)

    await _until(lambda: greetings(bot_api.calls_to("sendMessage")))
    await asyncio.sleep(0.5)
    assert greetings(bot_api.calls_to("sendMessage")) == 1

    # A Slack event and its retry are handled once.
    event = {
        "type": "message",
        "channel": "D0USER",
        "channel_type": "im",
        "user": "U0USER",
        "text": "menu",
        "ts": "1700000001.000100",
    }
    body = json.dumps(event_callback(event, "Ev000001")).encode()
    for retry in (None, "1"):
        signed = signed_headers(SLACK_SECRET, body) | {"Content-Type": "application/json"}
        if retry:
            signed |= {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"}
        assert (await public.post("/slack/events", content=body, headers=signed)).status_code == 200
    await _until(lambda: greetings(slack_api.calls_to("chat.postMessage")))
    await asyncio.sleep(0.5)
    assert greetings(slack_api.calls_to("chat.postMessage")) == 1

    # /metrics: never through the public site, even with the token; on the workers'
    # own address with it, counting the turns of both workers.
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert (await public.get("/metrics", headers=bearer)).status_code == 404
    metrics = await direct.get("/metrics", headers=bearer)
    assert metrics.status_code == 200
    assert re.search(
        r'helpdesk_turns_total\{channel="telegram",[^}]*outcome="handled"\} 1', metrics.text
    )
    assert re.search(
        r'helpdesk_turns_total\{channel="slack",[^}]*outcome="handled"\} 1', metrics.text
    )


def test_the_systemd_units_verify() -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd is not present")
    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    units: list[str] = []
    for unit in sorted(UNITS.glob("*.service")):
        # Verified as installed, with the command where this checkout has it.
        text = unit.read_text().replace("/opt/helpdesk/.venv/bin/helpdesk", str(HELPDESK))
        copy = folder / f"verify-{os.getpid()}-{unit.name}"
        copy.write_text(text)
        units.append(str(copy))
    try:
        result = subprocess.run(
            [analyze, "verify", "--man=no", *units], capture_output=True, text=True, check=False
        )
    finally:
        for path in units:
            Path(path).unlink()
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
