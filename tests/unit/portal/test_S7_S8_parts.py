"""The portal's pure parts: the streamed report reader and CSV writer (S7), signed cookies, CSRF
tokens and staff links (S6, S8), and the page data (S7). No AWS here."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classlink_sync.portal import views
from classlink_sync.portal.backend import MAX_RUN_SECONDS, _parts
from classlink_sync.portal.csvexport import CSV_COLUMNS, csv_cell, csv_chunks
from classlink_sync.portal.reportstream import ReportFormatError, ReportStream
from classlink_sync.portal.session import PURPOSE_SESSION, SessionCodec, new_session
from classlink_sync.portal.settings import PortalSecretResolver, PortalSettings, load_portal_settings
from classlink_sync.portal.stafflink import make_staff_link, verify_staff_token
from classlink_sync.sso.cookies import PURPOSE_SESSION as SSO_SESSION
from classlink_sync.sso.cookies import Signer

KEY = b"k" * 40
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
issue = st.fixed_dictionaries(
    {"rule": st.sampled_from(["R3", "R4", "R7"]), "entity": text, "sourced_id": st.one_of(st.none(), text),
     "field": st.one_of(st.none(), text), "message": text, "stale": st.booleans()}
)  # fmt: skip


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@settings(max_examples=60, deadline=None)
@given(issues=st.lists(issue, max_size=20), size=st.integers(1, 97), extra=st.dictionaries(text, text, max_size=3))
def test_S7_report_stream_reads_what_json_loads_reads(issues, size: int, extra: dict) -> None:
    doc = {
        "counts": {"user": {"create": 1}},
        "issues": issues,
        "run": {"n": 12345},
        **{f"x{k}": v for k, v in extra.items()},
    }
    data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    stream = ReportStream(chunked(data, size))
    assert list(stream.issues()) == issues
    assert {**stream.head, **stream.tail, "issues": issues} == doc


def test_S7_report_stream_handles_whitespace_unicode_and_missing_issues() -> None:
    doc = {"a": [1, 2.5, None, True], "issues": [{"message": "Lycée 北京 😀"}], "z": 10}
    pretty = json.dumps(doc, indent=2, ensure_ascii=False).encode()
    stream = ReportStream(chunked(pretty, 3))  # multi-byte characters cut between chunks
    assert list(stream.issues()) == doc["issues"]
    assert stream.tail == {"z": 10} and stream.head == {"a": [1, 2.5, None, True]}
    empty = ReportStream([b'{"counts":{},"run":{}}'])
    assert list(empty.issues()) == [] and empty.head == {"counts": {}, "run": {}}


@pytest.mark.parametrize("size", [1, 5, 64, 1 << 16])
def test_S7_report_stream_is_not_fooled_by_boundaries_inside_strings_or_nested_values(size: int) -> None:
    tricky = ['"},{"rule":"R9"},', "}, {", "},", '\\"},', "a},{b}],"]
    issues = [
        {"rule": "R7", "message": text, "nested": [{"a": 1}, {"b": [{"c": "},"}]}], "n": i}
        for i, text in enumerate(tricky * 40)
    ]
    doc = {"counts": {}, "issues": issues, "plan": {"a": {"b": 1}, "c": [{"d": 2}, {"e": 3}]}}
    stream = ReportStream(chunked(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode(), size))
    assert list(stream.issues()) == issues
    assert stream.tail == {"plan": doc["plan"]}


@pytest.mark.parametrize("data", [b'{"issues":[{"a":1},', b'{"issues":[{"a":1}} ', b"[1,2]", b'{"issues":[1'])
def test_S7_report_stream_refuses_a_broken_report(data: bytes) -> None:
    with pytest.raises(ReportFormatError):
        list(ReportStream([data]).issues())


def test_S7_csv_is_written_in_chunks_and_reads_back() -> None:
    issues = [{"rule": "R7", "entity": "class", "sourced_id": f"c-{i}", "school": "s", "field": "title",
               "message": f'Class "{i}", with a comma\nand a line'} for i in range(3000)]  # fmt: skip
    chunks = list(csv_chunks(iter(issues), chunk_bytes=4096))
    assert len(chunks) > 10 and all(len(c) < 4096 + 500 for c in chunks)
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[1:] == [["R7", "class", f"c-{i}", "s", "title", issues[i]["message"]] for i in range(3000)]


@pytest.mark.parametrize("value", ["=SUM(A1)", "+1", "-1", "@cmd", "\tx", "\rx"])
def test_S8_csv_cells_that_a_spreadsheet_would_run_are_written_as_text(value: str) -> None:
    assert csv_cell(value) == "'" + value
    assert csv_cell("French 1") == "French 1" and csv_cell(None) == ""


def test_S7_multipart_parts_are_at_least_the_part_size_but_the_last() -> None:
    parts = list(_parts([b"x" * 3] * 10, 7))
    assert [len(p) for p in parts] == [9, 9, 9, 3] and b"".join(parts) == b"x" * 30
    assert list(_parts([], 7)) == [b""]  # an upload has at least one part


def test_S8_cookies_of_one_purpose_never_pass_for_another() -> None:
    codec = SessionCodec(KEY)
    session = new_session("d1", "classlink", "Pat", now=int(time.time()), lifetime=3600)
    value = codec.encode(session)
    assert codec.decode(value, time.time()) == session
    assert codec.decode(codec.login.sign(session.to_payload()), time.time()) is None  # a login cookie
    assert codec.decode(Signer(KEY, SSO_SESSION).sign(session.to_payload()), time.time()) is None  # the app's
    assert Signer(KEY, PURPOSE_SESSION).verify(value, time.time()) is not None
    assert codec.decode(value, session.expires_at + 1) is None  # expired


def test_S8_csrf_token_is_bound_to_the_session() -> None:
    codec = SessionCodec(KEY)
    a = new_session("d1", "classlink", "A", now=0, lifetime=10)
    b = new_session("d1", "classlink", "B", now=0, lifetime=10)
    token = codec.csrf_token(a)
    assert codec.csrf_ok(a, token, token)
    assert not codec.csrf_ok(b, token, token)  # another session's token
    assert not codec.csrf_ok(a, token, None) and not codec.csrf_ok(a, None, token)
    assert not codec.csrf_ok(a, token, codec.csrf_token(b))
    assert not SessionCodec(b"z" * 40).csrf_ok(a, token, token)  # another key


def test_S6_staff_link_names_one_district_for_at_most_7_days() -> None:
    now = 1_800_000_000.0
    link = make_staff_link(KEY, "d1", hours=168, now=now)
    assert link.expires_at - link.issued_at == 7 * 24 * 3600
    assert verify_staff_token(KEY, link.token, "d1", now=now + 10) == link
    assert verify_staff_token(KEY, link.token, "d2", now=now + 10) is None
    assert verify_staff_token(KEY, link.token, "d1", now=link.expires_at + 1) is None
    assert verify_staff_token(b"y" * 40, link.token, "d1", now=now) is None
    assert link.url("https://app.example.org/") == f"https://app.example.org/portal/districts/d1/staff?t={link.token}"
    for hours in (0, -1, 168.01):
        with pytest.raises(ValueError):
            make_staff_link(KEY, "d1", hours=hours)


def test_S8_settings_cap_the_session_at_8_hours_and_the_dry_run_at_once_an_hour() -> None:
    assert PortalSettings().session_lifetime_seconds == 8 * 3600
    with pytest.raises(Exception, match="PORTAL_SESSION_SECONDS"):
        load_portal_settings({"PORTAL_SESSION_SECONDS": str(8 * 3600 + 1)})
    with pytest.raises(Exception, match="PORTAL_DRY_RUN_INTERVAL_SECONDS"):
        load_portal_settings({"PORTAL_DRY_RUN_INTERVAL_SECONDS": "60"})
    with pytest.raises(Exception, match="PORTAL_KEY"):
        PortalSecretResolver(load_portal_settings({"CLASSLINK_CLIENT_ID": "a", "CLASSLINK_CLIENT_SECRET": "b"})).get()
    with pytest.raises(Exception, match="too short"):
        PortalSecretResolver(load_portal_settings({"PORTAL_KEY": "short"})).key()


def test_S7_next_scheduled_sync() -> None:
    now = dt.datetime(2026, 3, 10, 7, 0, tzinfo=dt.UTC)
    at, text = views.next_scheduled_sync("cron(0 6 * * ? *)", "UTC", now, dt.date(2026, 1, 1))
    assert at == dt.datetime(2026, 3, 11, 6, 0, tzinfo=dt.UTC) and text == "daily at 06:00 UTC"
    at, _ = views.next_scheduled_sync("cron(30 5 * * ? *)", "America/Chicago", now, dt.date(2026, 1, 1))
    assert at is not None and at.astimezone(dt.UTC) == dt.datetime(2026, 3, 10, 10, 30, tzinfo=dt.UTC)
    at, _ = views.next_scheduled_sync("cron(0 6 * * ? *)", "UTC", now, dt.date(2026, 4, 1))
    assert at == dt.datetime(2026, 4, 1, 6, 0, tzinfo=dt.UTC)  # not before go-live (R1)
    assert views.next_scheduled_sync("rate(1 day)", "UTC", now, dt.date(2026, 1, 1)) == (
        None,
        "schedule rate(1 day) (UTC)",
    )


def test_S7_page_data_helpers() -> None:
    now = dt.datetime(2026, 3, 10, 7, 0, tzinfo=dt.UTC)
    assert views.ago(now - dt.timedelta(hours=3, minutes=5), now) == "3 hours ago"
    assert views.ago(now - dt.timedelta(days=1), now) == "1 day ago" and views.ago(None, now) == "never"
    assert views.duration("2026-03-10T07:00:00+00:00", "2026-03-10T08:02:03+00:00") == "1 h 2 min"
    table = views.counts_table({"user": {"unchanged": 4, "create": 1, "fetched": 5}, "course": {"skipped": 0}})
    assert table.columns == ["fetched", "create", "unchanged"] and table.rows == [("user", [5, 1, 4])]
    flt = views.IssueFilter.from_query({"rule": "R7", "q": " x&y ", "entity": "e" * 500})
    assert flt.text == "x&y" and len(flt.entity) == views.MAX_FILTER_LENGTH
    assert flt.query(page=2).startswith("rule=R7&entity=") and flt.query(page=2).endswith("&q=x%26y&page=2")


def test_S7_the_portal_shows_runs_abandoned_after_the_sync_lease() -> None:
    from classlink_sync.sync.service import LEASE_SECONDS

    assert MAX_RUN_SECONDS == LEASE_SECONDS


def test_S7_R18_the_history_says_which_runs_read_only_changes() -> None:
    assert views.trigger_label("schedule", "succeeded") == "daily schedule"
    assert views.trigger_label("schedule", "succeeded", "delta") == "changes since the last sync (R18)"
    assert views.trigger_label("manual", "failed", "delta") == "changes only, started by staff (R18)"
    assert views.trigger_label("undo", "succeeded", "undo") == "undo of a run (R17)"
    assert views.trigger_label("manual", "dry_run") == "readiness check (dry run)"
