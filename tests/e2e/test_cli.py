"""The README's run command and the directory commands, as subprocesses."""

from __future__ import annotations

import re
import socket
import stat
import subprocess
import time
from pathlib import Path

import httpx

from tests.e2e.test_console import HELPDESK, Process
from tests.live import free_port


def helpdesk(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HELPDESK, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_run_seeds_the_demo_directory_serves_the_web_app_and_chats(
    env: dict[str, str],
) -> None:
    port = free_port()
    env = {**env, "HELPDESK_WEB_PORT": str(port)}
    process = Process(env, "run")
    try:
        process.wait_for("What can I help you with?", timeout=90)
        deadline = time.monotonic() + 10
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert health.json()["status"] == "ok"
        # 林明志 of the demo directory (core.demo_data.DEMO_PEOPLE) finds his student ID.
        for line in ("1", "2", "A128573490", "90/3/14"):
            process.send(line)
        assert "Your student ID is 211303001." in process.wait_for("211303001")
    finally:
        process.kill()


def count(output: str, name: str) -> int:
    """A count from a summary table (``│ people │ 301 │``)."""
    found = re.search(rf"│ {name}\s+│\s+(\d+) │", output)
    assert found is not None, output
    return int(found.group(1))


def test_seed_demo_twice_adds_nothing_the_second_time(env: dict[str, str]) -> None:
    first = helpdesk(env, "db", "seed-demo")
    second = helpdesk(env, "db", "seed-demo")
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "Demo directory" in first.stdout and "ImportReport(" not in first.stdout
    assert count(first.stdout, "people") >= 300
    assert count(second.stdout, "people") == 0
    assert count(second.stdout, "skipped") == count(first.stdout, "people")


CSV_HEADER = (
    "id_number,birthday,name_zh,name_en,role,student_id,degree_level,department,"
    "entry_year,status,email\n"
)


def test_import_refuses_a_file_with_a_bad_row_and_names_the_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        CSV_HEADER
        + "A128573490,2001-03-14,林明志,Lin Ming-Zhi,student,211303001,master,CS,113,enrolled,\n"
        + "A123456788,2001-03-14,王小明,Wang Xiao-Ming,student,211303002,master,CS,113,enrolled,\n",
        encoding="utf-8",
    )
    refused = helpdesk(env, "db", "import", str(path))
    assert refused.returncode == 1
    assert "line 3: id_number: the check digit does not match" in refused.stderr
    assert "A123456788" not in refused.stderr + refused.stdout
    assert "nothing imported" in refused.stderr

    skipped = helpdesk(env, "db", "import", str(path), "--skip-bad")
    assert skipped.returncode == 0, skipped.stderr
    assert count(skipped.stdout, "added") == 1


def test_a_profile_with_a_bad_field_stops_the_start_naming_file_and_field(
    env: dict[str, str], tmp_path: Path
) -> None:
    from core.resources import profiles_dir

    bad = tmp_path / "bad.toml"
    bad.write_text(
        (profiles_dir() / "demo.toml")
        .read_text(encoding="utf-8")
        .replace("min_length = 8", 'min_length = "eight"'),
        encoding="utf-8",
    )
    result = helpdesk({**env, "HELPDESK_PROFILE": str(bad)}, "chat")
    assert result.returncode == 2
    assert str(bad) in result.stderr.replace("\n", "")
    assert "password_policy.min_length" in result.stderr


def test_a_busy_port_is_named_with_how_to_choose_another_and_no_traceback(
    env: dict[str, str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args in (("serve", "--port", str(port)), ("run", "--port", str(port))):
            result = helpdesk(env, *args)
            assert result.returncode == 1, result.stderr
            said = " ".join(result.stderr.split())
            assert f"Cannot listen on 127.0.0.1 port {port}" in said
            assert f"--port {port + 1} or HELPDESK_WEB_PORT={port + 1}" in said
            assert "Traceback" not in result.stderr
        from_env = helpdesk({**env, "HELPDESK_WEB_PORT": str(port)}, "run")
        assert from_env.returncode == 1 and f"port {port}" in from_env.stderr


ROW = (
    "A128573490,2001-03-14,林明志,Lin Ming-Zhi,student,211303001,master,資訊工程學系,"
    "113,enrolled,\n"
)


def test_a_big5_csv_from_a_taiwanese_office_is_read_as_big5(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes((CSV_HEADER + ROW).encode("cp950"))
    result = helpdesk(env, "db", "import", str(path))
    assert result.returncode == 0, result.stderr
    assert "read it as Big5" in result.stderr
    assert count(result.stdout, "added") == 1


def test_a_csv_in_another_encoding_asks_for_utf_8_without_a_traceback(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(CSV_HEADER.encode() + b"\x80\xff" + ROW.encode())
    result = helpdesk(env, "db", "import", str(path))
    assert result.returncode == 1
    assert "neither UTF-8 nor Big5" in result.stderr and "CSV UTF-8" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_staff_command_outside_the_project_says_to_create_the_database_first(
    env: dict[str, str], tmp_path: Path
) -> None:
    outside = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "HELPDESK_HOME")}
    for args in (("alumni", "applications"), ("mailbox", "show", "a@b"), ("card", "list")):
        result = subprocess.run(
            [HELPDESK, *args],
            cwd=tmp_path,
            env=outside,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        said = " ".join(result.stderr.split())
        assert "No helpdesk database at" in said and "`helpdesk db upgrade`" in said
        assert "no such table" not in said and "Traceback" not in said
    # Asking created nothing.
    assert list(tmp_path.iterdir()) == []


def test_the_home_folder_and_every_file_with_secrets_are_private_to_the_owner(
    env: dict[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    private = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "HELPDESK_SECRET_KEY")}
    private["HELPDESK_HOME"] = str(home)
    assert helpdesk(private, "db", "seed-demo").returncode == 0
    # A reset link goes to the outbox: the mail worker writes it after the step.
    lines = "\n".join(["I forgot my password", "211303001", "A128573490"]) + "\n"
    chatted = helpdesk(private, "chat", "--lang", "en", stdin=lines)
    assert chatted.returncode == 0, chatted.stderr
    files = [home / "helpdesk.db", home / "secret.key", *(home / "outbox").glob("*.eml")]
    assert any(path.suffix == ".eml" for path in files), chatted.stdout
    files += [path for path in home.glob("helpdesk.db-*")]  # WAL and SHM, while they exist
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "outbox").stat().st_mode) == 0o700
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_serve_mounts_each_configured_platform_and_only_those(env: dict[str, str]) -> None:
    port = free_port()
    env = {
        **env,
        "HELPDESK_WEB_PORT": str(port),
        "HELPDESK_LINE_CHANNEL_SECRET": "line-channel-secret",
        "HELPDESK_LINE_CHANNEL_ACCESS_TOKEN": "line-access-token",
        # Nothing is called at start; an address where nothing listens, to be sure.
        "HELPDESK_LINE_API_URL": f"http://127.0.0.1:{free_port()}",
    }
    env.pop("HELPDESK_TELEGRAM_TOKEN", None)
    assert helpdesk(env, "db", "upgrade").returncode == 0
    server = subprocess.Popen(
        [HELPDESK, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        # LINE's webhook is served and refuses an unsigned event; Telegram's is not served.
        line = httpx.post(f"{base}/line/webhook", content=b'{"events": []}', timeout=5)
        telegram = httpx.post(f"{base}/telegram/webhook", content=b"{}", timeout=5)
        assert line.status_code in (400, 401)
        assert telegram.status_code == 404
    finally:
        server.terminate()
        server.wait(timeout=30)
