"""S7: the portal's pages: overview, run history, a run (counts, issues by rule, filters, CSV), a held
run (approve, discard: R10), undo (R17: tests/unit/portal/test_R17_undo.py), the readiness check (R12,
at most once an hour)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
from pathlib import Path
from urllib.parse import urlsplit

import portal_support as p
import pytest

from classlink_sync.rules.plan import Issue
from classlink_sync.store import runs
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import run_sync

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sync"))
import roster


def base(t: p.Tenant) -> str:
    return f"/portal/districts/{t.district_id}"


def test_S7_overview_shows_status_last_success_next_sync_schools_and_go_live(world) -> None:
    t = world.district(schools=["sch-1", "sch-2"])
    world.school(t.district_id, "sch-1", "Lincoln High")
    world.run(t.district_id, days_ago=2)
    failed = world.run(t.district_id, status="failed", days_ago=0.5)
    browser = world.signed_in(t)
    text = p.text_of(browser.get(base(t) + "/"))
    assert "Last run Failed" in text and failed in browser.get(base(t) + "/")["body"]
    assert "(2 days ago)" in text
    assert "Next scheduled sync" in text and "06:00 UTC (daily at 06:00 UTC)" in text
    assert "Lincoln High (sch-1)" in text and "sch-2" in text
    go_live = (dt.date.today() - dt.timedelta(days=30)).isoformat()
    assert f"Go-live date {go_live}" in text
    assert "Paused, blackout dates, additions only not configured" in text


def test_S7_overview_before_go_live_points_to_the_readiness_check(world) -> None:
    t = world.district(enable_in_days=20)
    browser = world.signed_in(t)
    result = browser.get(base(t) + "/")
    text = p.text_of(result)
    assert "in 20 days" in text and "run a readiness check" in text
    assert "no run yet" in text and "none yet" in text
    first_slot = (dt.date.today() + dt.timedelta(days=20)).isoformat()
    assert f"Next scheduled sync {first_slot} 06:00 UTC" in text  # the schedule skips it until go-live


def test_S7_history_lists_the_last_30_days_with_trigger_status_duration_counts_and_issues(world) -> None:
    t = world.district()
    recent = world.run(t.district_id, issues=p.issues(4), days_ago=1)
    month = world.run(t.district_id, trigger="manual", status="failed", days_ago=29.5)
    older = world.run(t.district_id, days_ago=40)
    dry = world.run(t.district_id, trigger="manual", status="dry_run", days_ago=0.1)
    browser = world.signed_in(t)
    result = browser.get(base(t) + "/runs")
    body, text = result["body"], p.text_of(result)
    assert recent in body and month in body and dry in body
    assert older not in body
    assert "Date Trigger Status Duration Changes Issues" in text
    assert "daily schedule Succeeded 1 min 35 s 3 4" in text
    assert "started by staff Failed" in text
    assert "readiness check (dry run) Dry run (nothing written)" in text
    assert body.index(dry) < body.index(recent) < body.index(month)  # newest first


def test_S7_run_page_counts_and_issues_grouped_by_rule_with_what_to_change(world) -> None:
    t = world.district()
    run_id = world.run(t.district_id, issues=p.issues(20), counts={"user": {"create": 3, "update": 2, "unchanged": 9}})
    browser = world.signed_in(t)
    result = browser.get(f"{base(t)}/runs/{run_id}")
    text = p.text_of(result)
    assert "Entity create update unchanged user 3 2 9" in text
    assert "Issues to fix in ClassLink (20)" in text
    for rule, title in (("R4", "Required fields"), ("R5", "Username not unique"), ("R7", "Class subject"),
                        ("R8", "Teacher enrolments")):  # fmt: skip
        assert f"{rule} {title}" in text
    assert "What to change in ClassLink: Put the subject" in text  # R7's advice
    assert text.index("R4 Required fields (5)") < text.index("R5 Username") < text.index("R7 Class") < text.index("R8")
    assert "R7 problem number 2 of class (R7)" not in text  # issue 2 is R8's
    assert "R8 problem number 2 of enrollment (R8)" in text


def test_S7_run_page_filters_by_rule_entity_school_and_text(world) -> None:
    t = world.district()
    run_id = world.run(t.district_id, issues=p.issues(12))
    world.rewrite_report(t.district_id, run_id, issues=[
        {"rule": "R7", "entity": "class", "sourced_id": "c-1", "school": "sch-north", "field": "title",
         "message": "Class Art 1 has no subject", "stale": False},
        {"rule": "R7", "entity": "class", "sourced_id": "c-2", "school": "sch-south", "field": "title",
         "message": "Class Music has no subject", "stale": False},
        {"rule": "R4", "entity": "user", "sourced_id": "u-9", "school": "sch-north", "field": "username",
         "message": "User u-9 has no username", "stale": False},
    ])  # fmt: skip
    browser = world.signed_in(t)
    page = f"{base(t)}/runs/{run_id}"

    def shown(query: str) -> list[str]:
        body = browser.get(f"{page}?{query}")["body"]
        return [sid for sid in ("c-1", "c-2", "u-9") if f"<code>{sid}</code>" in body]

    assert shown("") == ["c-1", "c-2", "u-9"]
    assert shown("rule=R7") == ["c-1", "c-2"]
    assert shown("entity=user") == ["u-9"]
    assert shown("school=sch-north") == ["c-1", "u-9"]
    assert shown("q=music") == ["c-2"]
    assert shown("rule=R7&school=sch-north") == ["c-1"]
    assert shown("rule=R99") == []
    body = browser.get(f"{page}?rule=R7&school=sch-north")["body"]
    assert f'href="{page}/issues.csv?rule=R7&amp;school=sch-north"' in body  # the CSV of what is shown
    assert '<option value="sch-south">sch-south (1)</option>' in body


def test_S7_run_page_pages_through_every_issue(world) -> None:
    t = world.district()
    run_id = world.run(t.district_id, issues=p.issues(450, rules=("R7",)))
    browser = world.signed_in(t)
    page = f"{base(t)}/runs/{run_id}"
    first = p.text_of(browser.get(page))
    assert "450 issues, showing 1-200" in first and "page 1 of 3" in first
    last = browser.get(page + "?page=3")
    assert "showing 401-450" in p.text_of(last)
    assert "<code>c-449</code>" in last["body"] and "<code>c-0</code>" not in last["body"]


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_S7_csv_download_matches_the_run_record(world) -> None:
    t = world.district()
    issues = [*p.issues(30), Issue("R7", "class", "c-x", '=HYPERLINK("http://evil.example")', "title")]
    run_id = world.run(t.district_id, issues=issues)
    browser = world.signed_in(t)
    result = browser.get(f"{base(t)}/runs/{run_id}/issues.csv")
    assert result["statusCode"] == 200
    assert result["headers"]["Content-Type"] == "text/csv; charset=utf-8"
    assert result["headers"]["Content-Disposition"] == f'attachment; filename="issues-{t.district_id}-{run_id}.csv"'
    assert result["isBase64Encoded"]  # bytes: a CSV is no HTML and keeps every character
    rows = csv_rows(p.body_of(result))
    assert rows[0] == ["rule", "entity", "sourcedId", "school", "field", "message"]
    record = runs.get_run(t.district_id, run_id, world.store)
    stored = runs.load_report(record, world.store)["issues"]
    assert record.issue_count == len(stored) == len(rows) - 1
    expected = [[i["rule"], i["entity"], i["sourced_id"] or "", i.get("school") or "", i["field"] or "", i["message"]]
                for i in stored]  # fmt: skip
    expected[-1][5] = "'" + expected[-1][5]  # a formula is written as text (CSV injection)
    assert rows[1:] == expected
    filtered = csv_rows(p.body_of(browser.get(f"{base(t)}/runs/{run_id}/issues.csv?rule=R8&q=number 1")))
    assert filtered[1:] == [r for r in expected if r[0] == "R8" and "number 1" in r[5]]


def test_S7_a_large_csv_is_streamed_to_the_report_bucket(world, monkeypatch: pytest.MonkeyPatch) -> None:
    t = world.district()
    run_id = world.run(t.district_id, issues=p.issues(400))
    monkeypatch.setenv("PORTAL_INLINE_CSV_BYTES", "10000")
    world.handler._service = None  # read the settings again
    try:
        browser = world.signed_in(t)
        result = browser.get(f"{base(t)}/runs/{run_id}/issues.csv")
    finally:
        monkeypatch.delenv("PORTAL_INLINE_CSV_BYTES")
        world.handler._service = None
    assert result["statusCode"] == 303
    url = urlsplit(result["headers"]["Location"])
    assert "X-Amz-Signature=" in url.query and "X-Amz-Expires=300" in url.query
    bucket = world.store.settings.report_bucket
    key = url.path.split(f"/{bucket}/", 1)[-1] if f"/{bucket}/" in url.path else url.path.lstrip("/")
    assert key.startswith(f"exports/{t.district_id}/{run_id}/")
    from classlink_sync.store.reports import s3_client

    body = s3_client(world.store.settings).get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    rows = csv_rows(body)
    assert rows[0] == ["rule", "entity", "sourcedId", "school", "field", "message"]
    assert [r[2] for r in rows[1:]] == [i.sourced_id for i in p.issues(400)]


def test_S7_held_run_approve_queues_the_same_approval_as_staff_and_records_who(world) -> None:
    t = world.district()
    held = world.held_run(t.district_id, title="French 1")
    browser = world.signed_in(t)
    page = f"{base(t)}/runs/{held}"
    text = p.text_of(browser.get(page))
    assert "Held for review: nothing was written" in text
    assert (
        "sch-1 user deactivate 30" in text and "sch-1 class archive 1" in text and "sch-1 enrollment archive 5" in text
    )
    assert "R10: 30 of 40 accounts would be deactivated" in text
    result = browser.post(page + "/approve", {"csrf": browser.csrf()})
    assert result["statusCode"] == 303
    assert result["headers"]["Location"] == page + "?done=approval_requested"
    (message,) = world.messages()
    request = SyncRequest.parse(message)
    assert (request.trigger, request.approve_run_id, request.district_id) == ("approve", held, t.district_id)
    record = runs.get_run(t.district_id, held, world.store)
    assert record.status == "held"
    assert record.review["action"] == "approve"
    admin = t.users[t.admin]
    by = record.review["by"]
    assert (by["kind"], by["name"], by["tenant_id"]) == (
        "classlink",
        f"{admin['givenName']} {admin['familyName']}",
        t.tenant_id,
    )
    assert by["user_id"]  # ClassLink's user id (the id_token's sub)
    shown = p.text_of(browser.get(result["headers"]["Location"]))
    assert "Approved. The sync fetches and plans again" in shown and "Approved by Pat Admin" in shown
    assert browser.post(page + "/approve", {"csrf": browser.csrf()})["statusCode"] == 409  # once
    assert browser.post(page + "/discard", {"csrf": browser.csrf()})["statusCode"] == 409  # approval under way
    assert world.messages() == []
    # The district-sync worker runs that message through the same core as `classlink-sync approve`.
    outcome = run_sync(request, store=world.store, fetch=lambda district, store: roster.snapshot(3))
    assert outcome.status == "succeeded"
    assert runs.get_run(t.district_id, held, world.store).status == "approved"
    assert "Status Approved" in p.text_of(browser.get(page))


def test_S7_held_run_discard_records_who_and_writes_nothing(world) -> None:
    t = world.district()
    held = world.held_run(t.district_id)
    browser = world.browser()
    from classlink_sync.portal.stafflink import make_staff_link

    link = make_staff_link(p.PORTAL_KEY.encode(), t.district_id, hours=1)
    browser.get(f"{base(t)}/staff?t={link.token}")
    result = browser.post(f"{base(t)}/runs/{held}/discard", {"csrf": browser.csrf()})
    assert result["statusCode"] == 303
    record = runs.get_run(t.district_id, held, world.store)
    assert record.status == "discarded"
    assert record.review["action"] == "discard" and record.review["by"]["name"] == "staff link"
    assert world.messages() == []
    text = p.text_of(browser.get(result["headers"]["Location"]))
    assert "Discarded by staff link" in text and "Approve and apply" not in text


def test_S7_only_a_held_run_can_be_approved_or_discarded(world) -> None:
    t = world.district()
    done = world.run(t.district_id)
    browser = world.signed_in(t)
    for action in ("approve", "discard"):
        result = browser.post(f"{base(t)}/runs/{done}/{action}", {"csrf": browser.csrf()})
        assert result["statusCode"] == 409
        assert "only a run held for review" in p.text_of(result)
    assert browser.post(f"{base(t)}/runs/nope-123/approve", {"csrf": browser.csrf()})["statusCode"] == 404
    assert runs.get_run(t.district_id, done, world.store).review is None
    assert world.messages() == []


def test_S7_R17_undo_of_a_run_that_cannot_be_undone_says_why_and_a_post_changes_nothing(world) -> None:
    t = world.district()
    done = world.run(t.district_id)  # a run record without a journal: nothing to undo
    browser = world.signed_in(t)
    assert f"{base(t)}/runs/{done}/undo" in browser.get(f"{base(t)}/runs/{done}")["body"]
    page = browser.get(f"{base(t)}/runs/{done}/undo")
    assert page["statusCode"] == 200 and "This run cannot be undone" in p.text_of(page)
    assert "no journal" in p.text_of(page) and 'id="undo"' not in page["body"]
    posted = browser.post(f"{base(t)}/runs/{done}/undo", {"csrf": browser.csrf(), "confirm": "yes"})
    assert posted["statusCode"] == 409
    record = runs.get_run(t.district_id, done, world.store)
    assert record.status == "succeeded" and record.review is None and record.undone_by is None
    assert world.messages() == []


def test_S7_readiness_dry_run_at_most_once_an_hour_per_district(world) -> None:
    t = world.district(enable_in_days=15)
    page = f"{base(t)}/readiness"
    admin = world.signed_in(t)
    assert "Start a readiness check" in p.text_of(admin.get(page))
    started = admin.post(page, {"csrf": admin.csrf()})
    assert started["statusCode"] == 303 and started["headers"]["Location"] == page + "?done=dry_run_started"
    (message,) = world.messages()
    request = SyncRequest.parse(message)
    assert request.dry_run and request.trigger == "manual" and request.district_id == t.district_id
    shown = p.text_of(admin.get(started["headers"]["Location"]))
    assert "Readiness check started" in shown and "You can start the next one after" in shown
    # A second administrator of the same district (here: staff) shares the limit.
    from classlink_sync.portal.stafflink import make_staff_link

    staff = world.browser()
    staff.get(f"{base(t)}/staff?t={make_staff_link(p.PORTAL_KEY.encode(), t.district_id, hours=3).token}")
    again = staff.post(page, {"csrf": staff.csrf()})
    assert again["statusCode"] == 429 and "less than an hour ago" in p.text_of(again)
    assert world.messages() == []
    world.clock.advance(3601)
    assert staff.post(page, {"csrf": staff.csrf()})["statusCode"] == 303
    assert len(world.messages()) == 1
    # The dry run's result shows up on the page once the worker has run it (R12).
    outcome = run_sync(request, store=world.store, fetch=lambda district, store: roster.snapshot(2))
    assert outcome.status == "dry_run"
    text = p.text_of(admin.get(page))
    assert "Latest readiness check" in text and outcome.run_id in admin.get(page)["body"]


def test_S7_held_run_counts_enrolments_under_the_school_of_their_class(world) -> None:
    from classlink_sync.rules.plan import Plan
    from classlink_sync.store.models import partition

    t = world.district()
    Class = world.store.models.Class
    Class(pk=partition(t.district_id, "class", "kept-cls"), class_id="kept-cls", sourced_id="c-kept",
          title="Spanish 2", school_id="sch-9", subject="Spanish").save()  # fmt: skip
    world.school(t.district_id, "sch-9", "Roosevelt Elementary")
    plan = Plan(district_id=t.district_id, tenant_id="x", today=dt.date.today().isoformat(), fetch_complete=True)
    kept = p.klass(t.district_id, 0, "Spanish 2")
    kept.class_id, kept.sourced_id = "kept-cls", "c-kept"  # not in the plan: the store knows its school
    plan.enrollments["archive"] = [p.enrolment(t.district_id, kept, p.account(t.district_id, i)) for i in range(26)]
    plan.counts = {"enrollment": {"archive": 26, "unchanged": 10}}
    held = world.run(t.district_id, status="held", plan=plan, extra={"guard_reasons": ["R10: 26 enrolments"]})
    browser = world.signed_in(t)
    assert "Roosevelt Elementary enrollment archive 26" in p.text_of(browser.get(f"{base(t)}/runs/{held}"))
