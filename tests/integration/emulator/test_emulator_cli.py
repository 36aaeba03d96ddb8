"""``classlink-sync emulator`` runs in the foreground and prints what a client needs (issue 2, CLI)."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from classlink_local.cli import emulator_cmd

from .conftest import signed_get

pytestmark = pytest.mark.integration

RUN = (
    "import argparse, sys\n"
    "from classlink_local.cli import emulator_cmd\n"
    "p = argparse.ArgumentParser(); s = p.add_subparsers()\n"
    "emulator_cmd.register(s)\n"
    "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
)


def test_parser_options() -> None:
    parser = argparse.ArgumentParser()
    emulator_cmd.register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "emulator",
            "--port",
            "0",
            "--seed",
            "4",
            "--users",
            "50",
            "--max-limit",
            "20",
            "--faults",
            "429:first=1",
            "--client-id",
            "k",
            "--client-secret",
            "s",
        ]
    )
    assert (args.seed, args.users, args.max_limit, args.faults, args.client_id) == (4, 50, 20, "429:first=1", "k")


def test_runs_in_the_foreground_and_serves() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            RUN,
            "emulator",
            "--users",
            "60",
            "--max-limit",
            "20",
            "--client-id",
            "key-1",
            "--client-secret",
            "sec-1",
            "--faults",
            "429:first=1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        url = lines[1].split(": ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/ims/oneroster/v1p1")
        assert "key-1" in lines[2] and "sec-1" in lines[3]
        assert signed_get(url + "/users", "key-1", "sec-1").status_code == 429
        page = signed_get(url + "/users", "key-1", "sec-1", {"limit": 500})
        assert len(page.json()["users"]) == 20 and page.headers["X-Total-Count"] == "60"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_bad_faults_spec_is_a_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, "-c", RUN, "emulator", "--faults", "teapot"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0 and "--faults" in result.stderr
