"""The staff CLI against the local stack: what an engineer types, checked as they read it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from classlink_local.emulator.datagen import generate
from classlink_local.emulator.server import start_emulator
from classlink_sync.cli import main

from .conftest import day

pytestmark = pytest.mark.e2e


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_R1_R12_onboard_dry_run_sync_runs_export_through_the_cli(
    stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = generate(seed=5, users=80, username_prefix="CliISD")
    with start_emulator(dataset) as emulator:
        schools = ",".join(dataset.licensed_school_ids)
        common = ["--oneroster-url", emulator.base_url, "--client-id", emulator.client_id or "",
                  "--client-secret", emulator.client_secret or "", "--schools", schools]  # fmt: skip
        code, _, err = cli(
            capsys, "districts", "add", "cli-isd", "--tenant-id", "4242", "--enable-from", day(), *common
        )
        assert code == 2 and "R1" in err and "14 days" in err  # notice refused without the override
        code, out, _ = cli(capsys, "districts", "add", "cli-isd", "--tenant-id", "4242", "--override-notice",
                           "--enable-from", day(), *common)  # fmt: skip
        assert code == 0 and json.loads(out)["tenant_id"] == "4242" and emulator.client_secret not in out

        code, out, _ = cli(capsys, "sync", "cli-isd", "--dry-run", "--json", "--date", day())
        dry = json.loads(out)  # stdout is the run record and nothing else
        assert code == 0 and dry["status"] == "dry_run" and dry["counts"]["user"]["create"] > 0
        assert all({"rule", "sourcedId", "message"} <= issue.keys() for issue in dry["issues"])
        code, out, _ = cli(capsys, "export", "cli-isd", "--json")
        assert json.loads(out)["accounts"] == []  # R12: the dry run wrote no roster data

        code, out, _ = cli(capsys, "sync", "cli-isd", "--json", "--date", day())
        real = json.loads(out)
        assert code == 0 and real["status"] == "succeeded" and real["counts"] == dry["counts"]
        code, out, _ = cli(capsys, "export", "cli-isd", "--json")
        accounts = json.loads(out)["accounts"]
        assert len(accounts) == dry["counts"]["user"]["create"]
        assert {"sourcedId", "username", "role", "active"} <= accounts[0].keys()

        code, out, _ = cli(capsys, "runs", "cli-isd")
        assert code == 0 and [line.split("\t")[1] for line in out.splitlines()] == ["succeeded", "dry_run"]
        code, _, err = cli(capsys, "discard", "cli-isd", out.split("\t")[0])
        assert code == 2 and "only a held run can be discarded" in err
        code, _, err = cli(capsys, "sync", "no-such-district")
        assert code == 2 and "no district 'no-such-district'" in err
