"""R19: what the email says, in plain text and HTML (pure; no AWS here)."""

from __future__ import annotations

import datetime as dt

from classlink_sync.notify import decide as d
from classlink_sync.notify.compose import MAX_LISTED, compose, pick, portal_links
from classlink_sync.report import RunReport
from classlink_sync.rules.plan import Issue

NOW = dt.datetime(2026, 11, 28, 7, 0, tzinfo=dt.UTC)
HOSTILE = Issue("R7", "class", 'c"<2>&', "Class '<script>alert(1)</script>' names no subject.", "title")


def report(status: str = "succeeded", **kw) -> RunReport:
    return RunReport(district_id="d1", run_id="r1", trigger="schedule", started_at=NOW.isoformat(), status=status, **kw)


def notice(kind: str = d.ISSUES, **kw) -> d.Notice:
    rep = kw.pop("report", None) or report()
    return d.Notice(kind, rep, previous_class=d.OK, now=NOW, **kw)


def test_R19_every_classlink_string_is_escaped_in_the_html_and_kept_in_the_text() -> None:
    _, text, html = compose(notice(new_issues=(HOSTILE,)), portal_url="https://tis.example")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "c&quot;&lt;2&gt;&amp;" in html
    assert "class c\"<2>&, field title: Class '<script>alert(1)</script>' names no subject." in text


def test_R19_failed_and_held_emails_say_why() -> None:
    failed = report("failed", error="ConnectError: <ClassLink> did not answer")
    _, text, html = compose(notice(d.KIND_FAILED, report=failed, unsuccessful_since=NOW - dt.timedelta(hours=50)))
    assert "Error: ConnectError: <ClassLink> did not answer" in text and "&lt;ClassLink&gt;" in html
    assert "Not synced successfully for: 2 days" in text
    held = report("held", guard_reasons=["R10: would deactivate 40 of 61 accounts (66%)"])
    _, text, _ = compose(notice(d.KIND_HELD, report=held))
    assert "held for review: nothing was written (R10)" in text
    assert "  - R10: would deactivate 40 of 61 accounts (66%)" in text


def test_R19_at_most_20_issues_are_listed_grouped_by_rule_and_the_rest_are_in_the_portal() -> None:
    new = tuple(Issue("R4" if n % 2 else "R7", "user", f"u{n}", f"fix u{n}", None) for n in range(30))
    resolved = tuple(Issue("R8", "class", f"c{n}", f"fixed c{n}", None) for n in range(3))
    _, text, _ = compose(notice(new_issues=new, resolved_issues=resolved), portal_url="https://tis.example/")
    listed = [line for line in text.splitlines() if line.startswith("  - ")]
    assert len(listed) == MAX_LISTED
    # 17 new listed (R7: 0, 2, ..., 16; R4: 1, 3, ..., 15), each rule with its whole count.
    assert text.index("R4 Required fields (15, 8 listed)") < text.index("R7 Class subject (15, 9 listed)")
    assert text.index("R7 Class subject") < text.index("Resolved issues") < text.index("R8 Teacher enrolments (3)")
    assert "... and 13 more new issues in the portal." in text
    assert "Every issue and every run, in the portal: https://tis.example/portal/" in text
    assert "This run: https://tis.example/portal/districts/d1/runs/r1" in text


def test_R19_new_and_resolved_issues_share_the_20() -> None:
    many = [Issue("R4", "user", f"u{n}", "fix it", None) for n in range(30)]
    assert [len(x) for x in pick(many, many)] == [10, 10]
    assert [len(x) for x in pick(many, many[:2])] == [18, 2]
    assert [len(x) for x in pick(many[:3], many)] == [3, 17]
    assert [len(x) for x in pick(many[:3], many[:4])] == [3, 4]


def test_R19_without_portal_url_the_email_names_the_portal_without_a_link() -> None:
    assert portal_links(None, "d1", "r1") is None
    _, text, html = compose(notice(new_issues=(HOSTILE,)))
    assert "portal for district administrators" in text and "<a " not in html
