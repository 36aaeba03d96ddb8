"""The local commands work together with nothing set but ``AWS_ENDPOINT_URL`` (a newcomer's path):
`classlink-sync stack` keeps moto, the tables and the ClassLink emulator (OneRoster and SSO sides) up;
`sync` syncs the demo district; `serve` signs a synced teacher in through the emulator (S1-S4) and,
without ``SESSION_KEY``, makes one for the life of its process and says so on stderr. A second moto
server shows that `tables create` then `districts add` then `daily` work on an empty endpoint.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from classlink_local.stack import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "classlink_sync.cli"]


def bare_env(endpoint: str) -> dict[str, str]:
    """A shell with no AWS or SSO variables beyond the endpoint."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH")}
    return {**keep, "AWS_ENDPOINT_URL": endpoint, "POWERTOOLS_METRICS_DISABLED": "true"}


class Lines:
    """The lines a long-running process prints, read on a thread so the test can wait for one."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 90) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} within {timeout}s; saw: {self.seen[-20:]}")


def start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], Lines, Lines]:
    proc = subprocess.Popen([*CLI, *args], cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    return proc, Lines(proc.stdout), Lines(proc.stderr)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _wait_for_port(port: int, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            httpx.get(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"moto's server did not start on port {port}")


def cli(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=ROOT, env=env, text=True, capture_output=True, timeout=timeout)


@pytest.fixture(scope="module")
def stack() -> Iterator[str]:
    aws_port, emulator_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CLASSLINK_", "SESSION_KEY"))}
    proc, out, _ = start(
        ["stack", "--aws-port", str(aws_port), "--emulator-port", str(emulator_port), "--users", "80"], env
    )
    try:
        out.wait_for("Ctrl-C to stop.")
        yield f"http://127.0.0.1:{aws_port}"
    finally:
        stop(proc)


def test_serve_signs_a_synced_teacher_in_with_only_the_endpoint_set(stack: str) -> None:
    env = bare_env(stack)
    synced = cli(["sync", "demo-isd", "--json"], env)
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["status"] == "succeeded"
    exported = json.loads(cli(["export", "demo-isd", "--json"], env).stdout)
    teacher = next(a for a in exported["accounts"] if a["role"] == "teacher" and a["active"] and a["sourcedId"])

    proc, out, err = start(["serve", "--port", "0"], env)
    try:
        login_url = out.wait_for("SSO sign-in on").split()[3]
        err.wait_for("made a random session key for the life of this process")
        base = login_url.split("/sso/")[0]
        with httpx.Client(timeout=10) as http:
            login = http.get(login_url)
            assert login.status_code == 302, login.text
            authorize = login.headers["location"]
            assert authorize.startswith("http://127.0.0.1:") and "/oauth2/v2/auth?" in authorize
            # The emulator signs in whom `as` names (the stack's demo tenant is "2").
            back = http.get(f"{authorize}&as=2:{teacher['sourcedId']}")
            assert back.status_code == 302 and back.headers["location"].startswith(f"{base}/sso/classlink/callback?")
            cookie = login.headers["set-cookie"].split(";")[0]
            done = http.get(back.headers["location"], headers={"Cookie": cookie})
        assert done.status_code == 302, done.text[:500]
        assert done.headers["location"].rstrip("/") == base  # APP_URL: serve's own root
        assert any(c.startswith("tis_session") for c in done.headers.get_list("set-cookie"))
    finally:
        stop(proc)


def test_tables_create_then_add_then_daily_on_an_empty_endpoint(tmp_path: Path) -> None:
    from classlink_local.emulator.datagen import generate
    from classlink_local.emulator.server import start_emulator

    # moto's server in a process of its own: an in-process one would share the backends (and the
    # districts) of every other local stack this test session started.
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_port(port)
    emulator = start_emulator(generate(seed=5, users=40, username_prefix="Empty"), port=0)
    try:
        env = bare_env(f"http://127.0.0.1:{port}")
        created = cli(["tables", "create"], env)
        assert created.returncode == 0, created.stderr
        assert "sync queue" in created.stdout
        today = time.strftime("%Y-%m-%d", time.gmtime())
        added = cli(
            ["districts", "add", "empty-isd", "--tenant-id", "77", "--oneroster-url", emulator.base_url,
             "--client-id", emulator.client_id, "--client-secret", emulator.client_secret or "",
             "--schools", "all", "--enable-from", today, "--override-notice"],
            env,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        daily = cli(["daily", "--json"], env)
        assert daily.returncode == 0, daily.stderr
        result = json.loads(daily.stdout)
        assert result["dispatch"]["sent"] == 1 and len(result["drain"]["succeeded"]) == 1
    finally:
        emulator.stop()
        stop(server)
