"""The ``helpdesk`` subprocesses of the e2e tests log at DEBUG into the secrets scan."""

from __future__ import annotations

import subprocess
import time

import httpx

from tests.e2e.test_console import HELPDESK
from tests.live import free_port
from tests.reliability import secret_log


def test_a_helpdesk_server_s_discarded_stderr_is_kept_at_debug_for_the_scan(
    env: dict[str, str],
) -> None:
    port = free_port()
    env = {**env, "HELPDESK_WEB_PORT": str(port)}
    assert subprocess.run([HELPDESK, "db", "upgrade"], env=env, check=False).returncode == 0
    before = len(secret_log.subprocess_records())
    server = subprocess.Popen(
        [HELPDESK, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
    records = secret_log.subprocess_records()[before:]
    assert {r.logger for r in records} == {"subprocess helpdesk serve"}
    assert any(" DEBUG " in r.text for r in records)
    assert records[0].test.endswith(
        "test_a_helpdesk_server_s_discarded_stderr_is_kept_at_debug_for_the_scan"
    )
