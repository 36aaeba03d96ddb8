"""R19 staff commands: contacts at onboarding (``districts add --contact``), changed with
``districts contacts ID set|add|remove EMAIL...``, shown by ``districts show``; a malformed
address is one line naming it, exit code 2, and nothing is written."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from classlink_sync.cli import main
from classlink_sync.store.districts import get_district

ADD = [
    "districts",
    "add",
    "r19",
    "--tenant-id",
    "1919",
    "--oneroster-url",
    "https://r19.invalid/ims/oneroster/v1p1",
    "--client-id",
    "k",
    "--client-secret",
    "s",
    "--schools",
    "all",
    "--override-notice",
    "--enable-from",
    dt.date.today().isoformat(),
]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_R19_contacts_are_set_at_onboarding_and_shown(store: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, *ADD, "--contact", "it@r19.example", "--contact", " Head@R19.Example ")
    assert code == 0
    assert json.loads(out)["contacts"] == ["it@r19.example", "Head@r19.example"]
    code, out, _ = cli(capsys, "districts", "show", "r19")
    assert code == 0 and json.loads(out)["contacts"] == ["it@r19.example", "Head@r19.example"]


def test_R19_a_malformed_contact_is_one_line_exit_2_and_nothing_is_onboarded(
    store: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, *ADD, "--contact", "it@r19.example", "--contact", "it@r19")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "'it@r19'" in err and "R19" in err
    assert cli(capsys, "districts", "show", "r19")[0] == 2  # no district r19


def test_R19_staff_change_the_contacts(store: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, *ADD)[0] == 0
    assert get_district("r19", store).contacts == ()
    code, out, _ = cli(capsys, "districts", "contacts", "r19", "add", "a@r19.example", "b@r19.example")
    assert code == 0 and out.strip() == "contacts of r19: a@r19.example, b@r19.example"
    assert cli(capsys, "districts", "contacts", "r19", "remove", "A@r19.example")[1].strip().endswith(": b@r19.example")
    assert get_district("r19", store).contacts == ("b@r19.example",)
    assert cli(capsys, "districts", "contacts", "r19", "set", "c@r19.example")[0] == 0
    assert get_district("r19", store).contacts == ("c@r19.example",)
    assert cli(capsys, "districts", "contacts", "r19", "set")[1].strip() == "contacts of r19: none"

    for argv, named in (
        (("r19", "add", "bad@@r19.example"), "'bad@@r19.example'"),
        (("r19", "remove", "nobody@r19.example"), "nobody@r19.example"),
        (("r19", "add"), "at least one EMAIL"),
        (("nowhere", "add", "a@r19.example"), "no district 'nowhere'"),
    ):
        code, out, err = cli(capsys, "districts", "contacts", *argv)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and named in err, err
    assert get_district("r19", store).contacts == ()
