"""R18 staff commands: ``districts set DISTRICT --delta-every 60m --delta-hours 07-18 | --delta-off``
(shown by ``districts show``), a bad cadence is one line naming it and writes nothing, and
``sync DISTRICT --delta`` runs a delta (refused, and said so, before any full sync succeeded)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from cli_support import Cli, onboarding

from classlink_sync.store.districts import get_district

ADD = onboarding("r18", "1818")


def one_line_error(result: tuple[int, str, str], named: str) -> None:
    code, out, err = result
    assert code == 2 and out == "", result
    assert len(err.strip().splitlines()) == 1 and named in err, err


def test_R18_districts_set_delta_cadence_shows_and_switches_off(store: Any, cli: Cli) -> None:
    assert cli(*ADD)[0] == 0
    code, out, _ = cli("districts", "set", "r18", "--delta-every", "60m", "--delta-hours", "07-18")
    assert code == 0 and "every 60 min, 07:00-18:00 (UTC)" in out
    shown = json.loads(cli("districts", "show", "r18")[1])
    assert shown["delta"] == {"every_minutes": 60, "from_hour": 7, "until_hour": 18}
    code, out, _ = cli("districts", "set", "r18", "--delta-off")
    assert code == 0 and "off" in out and get_district("r18", store).delta is None


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--delta-every", "5m"], "--delta-every"),
        (["--delta-every", "60m", "--delta-hours", "18-07"], "--delta-hours"),
        (["--delta-off", "--delta-hours", "07-18"], "--delta-hours"),
    ],
)
def test_R18_a_bad_cadence_is_one_line_and_nothing_is_written(
    store: Any, cli: Cli, argv: list[str], named: str
) -> None:
    assert cli(*ADD)[0] == 0
    one_line_error(cli("districts", "set", "r18", *argv), named)
    assert get_district("r18", store).delta is None


def test_R18_sync_delta_before_any_full_sync_is_refused_and_recorded(store: Any, cli: Cli) -> None:
    assert cli(*ADD)[0] == 0
    code, out, _ = cli("sync", "r18", "--delta", "--json")
    record = json.loads(out)
    assert code == 1 and record["status"] == "failed" and record["mode"] == "delta"
    assert "a delta sync is refused until a full sync has succeeded" in record["error"]
    code, out, _ = cli("runs", "r18")
    assert code == 0 and "\tfailed\tmanual\t" in out and "\tmode delta" in out  # the run record's mode
