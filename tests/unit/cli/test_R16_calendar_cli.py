"""R16 staff commands: ``pause``, ``resume``, ``blackout`` and ``additions-only`` (add, remove,
list), and ``districts add --timezone``; every new field shows in ``districts show``; a bad
argument is one line naming it, exit code 2, and nothing is written."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from cli_support import Cli, onboarding

from classlink_sync.store.districts import get_district

ADD = onboarding("r16", "1616")


def one_line_error(result: tuple[int, str, str], named: str) -> None:
    code, out, err = result
    assert code == 2 and out == "", result
    assert len(err.strip().splitlines()) == 1 and named in err, err


def test_R16_districts_add_takes_a_time_zone_and_show_prints_every_calendar_field(store: Any, cli: Cli) -> None:
    code, out, _ = cli(*ADD, "--timezone", "America/Chicago")
    assert code == 0 and json.loads(out)["timezone"] == "America/Chicago"
    code, out, _ = cli("districts", "show", "r16")
    shown = json.loads(out)
    assert code == 0
    assert {k: shown[k] for k in ("timezone", "pause", "blackouts", "additions_only", "paused_since")} == {
        "timezone": "America/Chicago",
        "pause": None,
        "blackouts": [],
        "additions_only": [],
        "paused_since": None,
    }


def test_R16_a_bad_time_zone_is_one_line_and_nothing_is_onboarded(store: Any, cli: Cli) -> None:
    one_line_error(cli(*ADD, "--timezone", "Mars/Olympus"), "--timezone")
    assert cli("districts", "show", "r16")[0] == 2  # no district r16
    assert cli(*ADD)[0] == 0
    assert get_district("r16", store).timezone == "UTC"  # the default


def test_R16_pause_and_resume(store: Any, cli: Cli) -> None:
    assert cli(*ADD)[0] == 0
    code, out, _ = cli("pause", "r16", "--from", "2026-06-01", "--reason", "contract review")
    assert code == 0 and "paused 2026-06-01.. (until resumed): contract review" in out
    assert get_district("r16", store).pause == {"from": "2026-06-01", "until": None, "reason": "contract review"}
    code, out, _ = cli("pause", "r16", "--from", "2026-06-01", "--until", "2026-06-30", "--reason", "audit")
    assert code == 0 and get_district("r16", store).pause["until"] == "2026-06-30"  # type: ignore[index]
    shown = json.loads(cli("districts", "show", "r16")[1])
    assert shown["pause"] == {"from": "2026-06-01", "until": "2026-06-30", "reason": "audit"}
    code, out, _ = cli("resume", "r16")
    assert code == 0 and "resumed" in out and get_district("r16", store).pause is None
    code, out, _ = cli("resume", "r16")
    assert code == 0 and "was not paused" in out


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (("pause", "r16", "--from", "2026-6-1", "--reason", "x"), "--from"),
        (("pause", "r16", "--from", "2026-06-10", "--until", "2026-06-01", "--reason", "x"), "--until"),
        (("pause", "r16", "--from", "2026-06-10"), "--reason"),
        (("pause", "r16", "--from", "2026-06-10", "--reason", " "), "reason"),
        (("pause", "nowhere", "--from", "2026-06-10", "--reason", "x"), "no district 'nowhere'"),
        (("resume", "nowhere"), "no district 'nowhere'"),
        (("blackout", "r16", "add", "--from", "2026-06-10"), "--until"),
        (("blackout", "r16", "add", "--from", "2026-06-10", "--until", "2026-13-01"), "--until"),
        (("blackout", "r16", "remove", "--from", "2026-06-10", "--until", "2026-08-25"), "no blackout"),
        (("additions-only", "r16", "drop"), "invalid choice"),
        (("additions-only", "nowhere", "list"), "no district 'nowhere'"),
    ],
)
def test_R16_a_bad_argument_is_one_line_naming_it_and_nothing_is_written(
    store: Any, cli: Cli, argv: tuple[str, ...], named: str
) -> None:
    assert cli(*ADD)[0] == 0
    one_line_error(cli(*argv), named)
    district = get_district("r16", store)
    assert district.pause is None and district.blackouts == () and district.additions_only == ()


@pytest.mark.parametrize(("command", "attribute"), [("blackout", "blackouts"), ("additions-only", "additions_only")])
def test_R16_ranges_are_added_listed_and_removed(store: Any, cli: Cli, command: str, attribute: str) -> None:
    assert cli(*ADD, "--timezone", "Europe/Paris")[0] == 0
    code, out, _ = cli(command, "r16", "add", "--from", "2026-06-10", "--until", "2026-08-25", "--reason", "summer")
    assert code == 0 and "now: 2026-06-10..2026-08-25" in out
    assert cli(command, "r16", "add", "--from", "2026-12-21", "--until", "2027-01-01")[0] == 0
    one_line_error(cli(command, "r16", "add", "--from", "2026-08-01", "--until", "2026-09-01"), "overlaps")
    code, out, _ = cli(command, "r16", "list")
    assert code == 0 and "dates in Europe/Paris" in out
    assert "2026-06-10..2026-08-25\tsummer" in out and "2026-12-21..2027-01-01\t-" in out
    listed = json.loads(cli(command, "r16", "list", "--json")[1])
    assert listed[attribute] == [
        {"from": "2026-06-10", "until": "2026-08-25", "reason": "summer"},
        {"from": "2026-12-21", "until": "2027-01-01", "reason": ""},
    ]
    assert json.loads(cli("districts", "show", "r16")[1])[attribute] == listed[attribute]
    code, out, _ = cli(command, "r16", "remove", "--from", "2026-06-10", "--until", "2026-08-25")
    assert code == 0 and out.strip().endswith("now: 2026-12-21..2027-01-01")
    assert cli(command, "r16", "remove", "--from", "2026-12-21", "--until", "2027-01-01")[0] == 0
    assert getattr(get_district("r16", store), attribute) == ()
    assert "  none" in cli(command, "r16", "list")[1]


def test_R16_a_staff_sync_without_date_is_for_the_districts_own_today(store: Any, cli: Cli) -> None:
    """UTC+14 and UTC-11 are always a calendar day apart or more: each district's today is its own."""
    from classlink_sync.cli.sync import sync_date
    from classlink_sync.rules.calendar import local_day

    for district, tenant, zone in (("kiri", "9141", "Pacific/Kiritimati"), ("pago", "9142", "Pacific/Pago_Pago")):
        assert cli(*onboarding(district, tenant), "--timezone", zone)[0] == 0
    kiri, pago = sync_date(None, "kiri"), sync_date(None, "pago")
    assert kiri > pago
    assert kiri == local_day(dt.datetime.now(dt.UTC), "Pacific/Kiritimati").isoformat()
    assert sync_date(None, "nowhere") == dt.datetime.now(dt.UTC).date().isoformat()  # unknown: UTC
    assert sync_date("2026-06-10", "kiri") == "2026-06-10"  # a date staff name is as given
