"""R19: which runs are news for the district, decided by a pure function (no AWS here)."""

from __future__ import annotations

import datetime as dt

import pytest

from classlink_sync.notify import decide as d
from classlink_sync.notify.decide import DistrictState, PastRun, Previous, decide
from classlink_sync.report import RunReport
from classlink_sync.rules.plan import Issue

T0 = dt.datetime(2026, 11, 28, 6, 0, tzinfo=dt.UTC)
CONTACTS = ("it@district.example", "head@district.example")
DISTRICT = DistrictState("d1", CONTACTS)
R7_ART = Issue("R7", "class", "c2", "Class 'Art 2' names no subject; add one in ClassLink.", "title")
R4_NAME = Issue("R4", "user", "u9", "User u9 has no username; add it in ClassLink.", "username")


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def report(status: str = "succeeded", *, hours: float = 0, issues=(), **kw) -> RunReport:
    return RunReport(
        district_id="d1",
        run_id=f"run-{hours:g}",
        trigger=kw.pop("trigger", "schedule"),
        started_at=at(hours).isoformat(),
        status=status,
        issues=list(issues),
        **kw,
    )


def past(*runs: tuple[str, float]) -> tuple[PastRun, ...]:
    """Earlier runs as (status, hours), newest first."""
    return tuple(PastRun(f"run-{h:g}", status, at(h).isoformat()) for status, h in runs)


def run(current: RunReport, previous: Previous | None = None, hours: float = 0.5) -> d.Notification | None:
    return decide(current, previous or Previous(), DISTRICT, at(hours), portal_url="https://tis.example")


def test_R19_first_sync_with_issues_emails_each_contact_the_issues() -> None:
    got = run(report(issues=[R7_ART, R4_NAME]))
    assert got is not None and got.kind == d.FIRST and not got.once_a_day
    assert [e.to for e in got.emails] == list(CONTACTS)  # one email per contact
    assert got.notice.new_issues == (R7_ART, R4_NAME) and got.notice.resolved_issues == ()
    assert got.emails[0].subject == "ClassLink sync of d1: first sync done, 2 issues to fix in ClassLink"


def test_R19_a_run_with_nothing_new_sends_nothing() -> None:
    previous = Previous(past(("succeeded", -24)), (R7_ART,))
    assert run(report(issues=[R7_ART]), previous) is None


def test_R19_issues_are_compared_by_rule_entity_sourcedid_and_field_not_by_message() -> None:
    reworded = Issue("R7", "class", "c2", "Another wording of the same problem.", "title")
    assert run(report(issues=[reworded]), Previous(past(("succeeded", -24)), (R7_ART,))) is None
    other_field = Issue("R7", "class", "c2", R7_ART.message, "course")
    got = run(report(issues=[other_field]), Previous(past(("succeeded", -24)), (R7_ART,)))
    assert got is not None and got.notice.new_issues == (other_field,) and got.notice.resolved_issues == (R7_ART,)


def test_R19_a_fix_in_classlink_sends_the_resolved_issue() -> None:
    got = run(report(issues=[R4_NAME]), Previous(past(("succeeded", -24)), (R7_ART, R4_NAME)))
    assert got is not None and got.kind == d.ISSUES
    assert got.notice.new_issues == () and got.notice.resolved_issues == (R7_ART,)
    assert got.emails[0].subject == "ClassLink sync of d1: 1 issue resolved"


def test_R19_a_held_run_emails_once_a_day_with_its_issue_changes() -> None:
    got = run(report("held", issues=[R7_ART], guard_reasons=["would deactivate 40 of 61 accounts"]), Previous())
    assert got is not None and got.kind == d.KIND_HELD and got.once_a_day
    assert got.notice.new_issues == (R7_ART,)
    assert "held for review" in got.emails[0].subject


def test_R19_a_failed_run_emails_once_a_day_and_compares_no_issues() -> None:
    previous = Previous(past(("succeeded", -24)), (R7_ART,))
    got = run(report("failed", error="ConnectError: ClassLink did not answer"), previous)
    assert got is not None and got.kind == d.KIND_FAILED and got.once_a_day
    assert got.notice.new_issues == got.notice.resolved_issues == ()  # a partial fetch proves nothing
    assert not got.notice.stale and got.emails[0].subject == "ClassLink sync of d1: sync failed"


def test_R19_no_successful_sync_for_48_hours_says_so() -> None:
    previous = Previous(past(("failed", 32), ("failed", 24), ("held", 8), ("succeeded", 0)), (R7_ART,))
    current = report("failed", hours=40)
    got = run(current, previous, hours=47.9)
    assert got is not None and got.notice.unsuccessful_since == at(0) and not got.notice.stale
    assert got.emails[0].subject == "ClassLink sync of d1: sync failed"
    got = run(current, previous, hours=48)
    assert got is not None and got.notice.stale and got.notice.last_success == at(0)
    assert got.emails[0].subject == "ClassLink sync of d1: no successful sync for 2 days (last run failed)"
    held = run(report("held", hours=40), previous, hours=75)
    assert held is not None and held.notice.stale and held.once_a_day
    assert held.emails[0].subject == "ClassLink sync of d1: no successful sync for 3 days (last run held for review)"


def test_R19_not_synced_since_the_last_success_or_pause_or_else_the_first_problem() -> None:
    started = at(40).isoformat()
    paused = past(("dry_run", 30), ("failed", 24), ("paused", 20), ("failed", 10))
    assert d.unsuccessful_since(started, paused) == at(20)
    assert d.unsuccessful_since(started, past(("failed", 30), ("succeeded", 20), ("failed", 0))) == at(20)
    assert d.unsuccessful_since(started, past(("failed", 30), ("discarded", 20), ("abandoned", 10))) == at(10)
    assert d.unsuccessful_since(started, ()) == at(40)


def test_R19_pause_emails_the_first_time_only() -> None:
    paused = report("paused", error="paused by staff until 2027-01-04: winter break")
    got = run(paused, Previous(past(("succeeded", -24))))
    assert got is not None and got.kind == d.KIND_PAUSED and not got.once_a_day
    assert got.emails[0].subject == "ClassLink sync of d1: sync paused"
    assert run(paused, Previous(past(("dry_run", -1), ("paused", -24)))) is None  # dry runs are skipped


@pytest.mark.parametrize(
    ("before", "trigger", "kind", "subject"),
    [
        ("failed", "schedule", d.RECOVERED, "syncing successfully again"),
        ("abandoned", "manual", d.RECOVERED, "syncing successfully again"),
        ("approved", "approve", d.RECOVERED, "held sync approved and applied"),
        ("paused", "schedule", d.RESUMED, "syncing again after the pause"),
    ],
)
def test_R19_a_success_after_a_problem_or_a_pause_is_news(before: str, trigger: str, kind: str, subject: str) -> None:
    got = run(report(trigger=trigger, issues=[R7_ART]), Previous(past((before, -24), ("succeeded", -48)), (R7_ART,)))
    assert got is not None and got.kind == kind and got.emails[0].subject.endswith(subject)
    assert got.notice.new_issues == got.notice.resolved_issues == ()


def test_R19_the_baseline_is_the_last_complete_plan_never_a_failed_or_dry_run() -> None:
    runs = past(("dry_run", 30), ("failed", 24), ("abandoned", 20), ("discarded", 10), ("succeeded", 0))
    assert d.baseline_run(runs) == runs[3]
    assert d.baseline_run(past(("failed", 1), ("paused", 0))) is None
    assert d.previous_class(runs) == d.FAILED


def test_R19_dry_runs_and_districts_without_contacts_email_nothing() -> None:
    assert run(report("dry_run", dry_run=True, issues=[R7_ART])) is None
    assert run(report(dry_run=True, issues=[R7_ART])) is None
    assert decide(report("failed"), Previous(), DistrictState("d1", ()), at(1)) is None
