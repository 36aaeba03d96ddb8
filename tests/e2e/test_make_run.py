"""`make run` (classlink-sync demo): the whole job on the local stack, checked like a user reads it."""

from __future__ import annotations

import re

import pytest

from classlink_local.demo import run_demo

pytestmark = pytest.mark.e2e


def test_make_run_syncs_reports_resyncs_with_zero_writes_and_signs_a_teacher_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    lines: list[str] = []
    assert run_demo(users=150, seed=11, out=lines.append) == 0, "\n".join(lines)
    text = "\n".join(lines)
    assert re.search(r"Sync \S+ of district demo-isd: SUCCEEDED", text)
    assert re.search(r"user\s+.*create \d+", text) and "Data-quality issues:" in text
    assert re.search(r"R\d+ .*: \d+", text)  # issues grouped by rule
    assert "nothing changed in ClassLink" in text and "0 roster writes counted at the DynamoDB API" in text
    assert "[signed in, session cookie tis_session]" in text
    assert "refused with the page telling them to ask their ClassLink administrator" in text
    # S6: the demo district's portal through a staff link, and R19: what was emailed.
    assert re.search(
        r"District portal \(S6-S8\) of demo-isd, staff link valid 8 hours: http://127\.0\.0\.1:\d+/portal/", text
    )
    assert "overview answered HTTP 200" in text
    assert re.search(r"R19 emails sent through SES \(moto\): 1 \(to it-admin@demo-isd\.example", text)
