"""S7: issues carry their school (``Issue.school_id``, stored as the run report's ``school_id``): the
run page filters by it and lists the schools, and the CSV's ``school`` column has it."""

from __future__ import annotations

import csv
import io

import portal_support as p

from classlink_sync.portal import views
from classlink_sync.portal.csvexport import issue_row
from classlink_sync.rules.plan import Issue


def test_S7_filter_by_school_and_csv_school_column_from_the_planner_issues(world) -> None:
    t = world.district()
    issues = [
        Issue("R7", "class", "c-1", "Class Art 1 has no subject", "title", school_id="sch-north"),
        Issue("R8", "enrollment", "e-2", "Teacher t-2 is not in that school", "school", school_id="sch-south"),
        Issue("R4", "user", "u-3", "User u-3 has no givenName", "givenName", stale=True, school_id="sch-north"),
        Issue("R4", "user", "u-4", "User u-4 is not enrolled in any school", "orgs"),  # no school
    ]
    run_id = world.run(t.district_id, issues=issues)
    browser = world.signed_in(t)
    page = f"/portal/districts/{t.district_id}/runs/{run_id}"

    def shown(query: str) -> list[str]:
        body = browser.get(f"{page}?{query}")["body"]
        return [sid for sid in ("c-1", "e-2", "u-3", "u-4") if f"<code>{sid}</code>" in body]

    assert shown("") == ["c-1", "e-2", "u-3", "u-4"]
    assert shown("school=sch-north") == ["c-1", "u-3"]
    assert shown("school=sch-south&entity=enrollment") == ["e-2"]
    assert shown("school=sch-none") == []
    body = browser.get(page)["body"]
    assert '<option value="sch-north">sch-north (2)</option>' in body
    assert '<option value="sch-south">sch-south (1)</option>' in body
    assert "<td>sch-south</td>" in body  # the school column of the issue table

    rows = list(csv.reader(io.StringIO(p.body_of(browser.get(f"{page}/issues.csv")))))
    assert rows[0] == ["rule", "entity", "sourcedId", "school", "field", "message"]
    assert {r[2]: r[3] for r in rows[1:]} == {"c-1": "sch-north", "e-2": "sch-south", "u-3": "sch-north", "u-4": ""}
    filtered = list(csv.reader(io.StringIO(p.body_of(browser.get(f"{page}/issues.csv?school=sch-north")))))
    assert sorted(r[2] for r in filtered[1:]) == ["c-1", "u-3"]


def test_S7_views_read_the_stored_school_id_and_older_reports_without_it() -> None:
    stored = [
        {"rule": "R7", "entity": "class", "sourced_id": "c-1", "school_id": "sch-1", "field": "title", "message": "m"},
        {"rule": "R7", "entity": "class", "sourced_id": "c-2", "field": "title", "message": "m"},  # an older report
    ]
    selection = views.select_issues(stored, views.IssueFilter(school="sch-1"))
    assert [i["sourced_id"] for i in selection.matched] == ["c-1"]
    assert selection.schools == [("sch-1", 1)]
    assert views.IssueRow.of(stored[0]).school == "sch-1" and views.IssueRow.of(stored[1]).school == ""
    assert issue_row(stored[0]) == ("R7", "class", "c-1", "sch-1", "title", "m")
    assert issue_row(stored[1])[3] == ""
