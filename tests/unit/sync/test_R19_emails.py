"""R19 through ``run_sync``: the district's contacts hear about its syncs, by email read back from
moto's SES (in-process ``mock_aws``), across a sequence of runs on a controlled clock."""

from __future__ import annotations

import datetime as dt
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools import Metrics
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from classlink_sync.notify import hook
from classlink_sync.notify.settings import get_notify_settings
from classlink_sync.oneroster.records import ClassRecord, EnrollmentRecord, RosterSnapshot
from classlink_sync.store import runs
from classlink_sync.store.districts import add_district, change_district_contacts
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import run_sync

sys.path.insert(0, str(Path(__file__).parent))
import roster

SENDER = "sync-notices@tis.example"
PORTAL = "https://tis.example"
CONTACTS = ["it@r19.example", "Head.Office@R19.example"]
START = dt.datetime(2026, 11, 28, 6, 0, tzinfo=dt.UTC)
ART = "Art <b>2</b>"  # a class without a subject: an R7 issue, with markup from ClassLink


class Clock:
    def __init__(self) -> None:
        self.now = START

    def at(self, days: float, hours: float = 0) -> None:
        self.now = START + dt.timedelta(days=days, hours=hours)


@pytest.fixture
def clock(store: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """Runs start (``runs._now``) and notifications happen (``hook.clock``) at ``clock.now``;
    notification is on, from a sender moto's SES has verified."""
    fake = Clock()
    monkeypatch.setattr(runs, "_now", lambda: fake.now.isoformat(timespec="milliseconds"))
    monkeypatch.setattr(hook, "clock", lambda: fake.now)
    monkeypatch.setenv("NOTIFY_FROM", SENDER)
    monkeypatch.setenv("PORTAL_URL", PORTAL)
    get_notify_settings.cache_clear()
    ses().verify_email_identity(SENDER)
    Metrics().clear_metrics()
    yield fake
    get_notify_settings.cache_clear()
    Metrics().clear_metrics()


def ses() -> Any:
    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]


class Inbox:
    """The messages moto's SES accepted since the last look."""

    def __init__(self) -> None:
        self.seen = 0

    def new(self) -> list[Any]:
        messages = ses().sent_messages[self.seen :]
        self.seen += len(messages)
        return messages


def onboard(store: Any, district: str, contacts: list[str] | None = None) -> None:
    add_district(
        district,
        tenant_id=str(zlib.crc32(district.encode())),
        oneroster_url="https://example.invalid/ims/oneroster/v1p1",
        client_id="k",
        client_secret="s",
        schools="all",
        enable_from=START.date(),
        override_notice=True,
        today=START.date(),
        contacts=CONTACTS if contacts is None else contacts,
        store=store,
    )


def snapshot(students: int = 30, art: str | None = ART) -> RosterSnapshot:
    s = roster.snapshot(students)
    if art is not None:
        s.classes["c2"] = ClassRecord("c2", "active", art, None, "scheduled", roster.SCHOOL, None, (), (), ())
        s.enrollments["e-t1-c2"] = EnrollmentRecord(
            "e-t1-c2", "active", "t1", "c2", roster.SCHOOL, "teacher", True, None, None
        )
    return s


def sync(store: Any, clock: Clock, district: str, roster_snapshot: RosterSnapshot | None, **kw: Any) -> str:
    """One run of ``district`` at ``clock.now``; ``None`` as the snapshot: ClassLink is down."""

    def fetch(_district: Any, _store: Any) -> RosterSnapshot:
        if roster_snapshot is None:
            raise ConnectionError("ClassLink did not answer")
        return roster_snapshot

    request = SyncRequest(
        district_id=district, date=clock.now.date().isoformat(), trigger=kw.pop("trigger", "schedule"), **kw
    )
    return run_sync(request, store=store, fetch=fetch, raise_on_failure=False).status


def one_each(messages: list[Any]) -> str:
    """The messages are one per contact with the same subject; return it."""
    assert sorted(m.destinations["ToAddresses"][0] for m in messages) == sorted(
        ["it@r19.example", "Head.Office@r19.example"]
    )
    assert all(len(m.destinations["ToAddresses"]) == 1 and m.source == SENDER for m in messages)
    (subject,) = {m.subject for m in messages}
    return str(subject)


def test_R19_a_district_hears_about_new_resolved_held_failed_and_stale_syncs(store: Any, clock: Clock) -> None:
    onboard(store, "r19")
    inbox = Inbox()

    assert sync(store, clock, "r19", snapshot()) == "succeeded"  # first sync, with an R7 issue
    first = inbox.new()
    assert one_each(first) == "ClassLink sync of r19: first sync done, 1 issue to fix in ClassLink"
    body = first[0].body  # moto keeps the HTML part
    assert "R7 Class subject (1)" in body and "class c2, field title" in body
    assert "Art &lt;b&gt;2&lt;/b&gt;" in body and "<b>2</b>" not in body  # ClassLink's string, escaped
    assert f'href="{PORTAL}/portal/"' in body

    clock.at(1)
    assert sync(store, clock, "r19", snapshot()) == "succeeded"
    assert inbox.new() == []  # nothing changed: no email

    clock.at(1, 4)
    assert sync(store, clock, "r19", snapshot(), dry_run=True) == "dry_run"
    assert inbox.new() == []  # R12: a dry run emails nothing

    clock.at(2)  # the district fixed the class in ClassLink (staff sync: same as a scheduled one)
    assert sync(store, clock, "r19", snapshot(art="Spanish Art 2"), trigger="manual") == "succeeded"
    fixed = inbox.new()
    assert one_each(fixed) == "ClassLink sync of r19: 1 issue resolved"
    assert "Resolved issues" in fixed[0].body and "class c2, field title" in fixed[0].body

    clock.at(3)  # ClassLink suddenly shares 2 students of 30: the mass-change guard holds (R10)
    assert sync(store, clock, "r19", snapshot(2, art="Spanish Art 2")) == "held"
    held = inbox.new()
    assert one_each(held) == "ClassLink sync of r19: sync held for review"
    assert "held for review: nothing was written (R10)" in held[0].body

    clock.at(4)  # nothing was written, so the district is as it was: applied, back to normal
    assert sync(store, clock, "r19", snapshot(30, art="Spanish Art 2")) == "succeeded"
    assert one_each(inbox.new()) == "ClassLink sync of r19: syncing successfully again"

    clock.at(5)
    assert sync(store, clock, "r19", None) == "failed"
    failed = inbox.new()
    assert one_each(failed) == "ClassLink sync of r19: sync failed"
    assert "ConnectionError: ClassLink did not answer" in failed[0].body

    # Failing every 8 hours (retries, staff syncs): one email a day, not one per run; from 48 hours
    # after the last successful sync (day 4), the daily email says so.
    per_day: dict[int, list[str]] = {}
    for hours in range(8, 3 * 24 + 1, 8):
        clock.at(5, hours)
        assert sync(store, clock, "r19", None) == "failed"
        for message in inbox.new():
            per_day.setdefault((clock.now - START).days, []).append(message.subject)
    assert sorted(per_day) == [6, 7, 8]  # none on day 5 after the first failure's email
    assert all(len(subjects) == len(CONTACTS) for subjects in per_day.values())
    assert per_day[6][0] == "ClassLink sync of r19: no successful sync for 2 days (last run failed)"
    assert per_day[8][0] == "ClassLink sync of r19: no successful sync for 4 days (last run failed)"

    clock.at(8, 8)
    assert sync(store, clock, "r19", snapshot(30, art="Spanish Art 2")) == "succeeded"
    assert one_each(inbox.new()) == "ClassLink sync of r19: syncing successfully again"


def test_R19_emails_go_to_the_contacts_of_the_moment_and_none_without_contacts(store: Any, clock: Clock) -> None:
    onboard(store, "r19-none", contacts=[])
    inbox = Inbox()
    assert sync(store, clock, "r19-none", snapshot(5)) == "succeeded"
    assert inbox.new() == []
    change_district_contacts("r19-none", "add", ["late@r19.example"], store)
    clock.at(1)
    assert sync(store, clock, "r19-none", snapshot(5, art=None)) == "succeeded"
    (message,) = inbox.new()
    assert message.destinations == {"ToAddresses": ["late@r19.example"]}


def test_R19_no_notify_from_means_no_email_and_one_log_line(
    store: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOTIFY_FROM")
    get_notify_settings.cache_clear()
    monkeypatch.setattr(hook, "_off_logged", False)
    said: list[str] = []
    monkeypatch.setattr(hook.logger, "info", lambda message, *a, **k: said.append(message))
    onboard(store, "r19-off")
    inbox = Inbox()
    for day in range(2):
        clock.at(day)
        assert sync(store, clock, "r19-off", None if day else snapshot(5)) in ("succeeded", "failed")
    assert inbox.new() == []
    assert said.count("R19 notification is off: NOTIFY_FROM is not set") == 1


def test_R19_an_email_that_ses_refuses_is_counted_and_never_fails_the_sync(
    store: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_FROM", "unverified@elsewhere.example")  # SES refuses to send as it
    get_notify_settings.cache_clear()
    onboard(store, "r19-refused")
    assert sync(store, clock, "r19-refused", snapshot(5)) == "succeeded"
    clock.at(1)
    assert sync(store, clock, "r19-refused", None) == "failed"  # recorded as failed, not raised
    assert ses().sent_messages == []
    assert Metrics().metric_set["NotifyFailed"]["Value"] == [float(len(CONTACTS))] * 2
    # Nothing of the day's failure email went out, so its claim was given back: a later run that
    # day may send it.
    monkeypatch.setenv("NOTIFY_FROM", SENDER)
    get_notify_settings.cache_clear()
    clock.at(1, 8)
    assert sync(store, clock, "r19-refused", None) == "failed"
    assert one_each(Inbox().new()) == "ClassLink sync of r19-refused: sync failed"


def test_R19_delta_and_undo_runs_email_nothing_and_are_no_baseline(store: Any, clock: Clock) -> None:
    """A delta (R18) sees only what changed, so its issues are partial; an undo (R17) is a staff
    action: neither is news, and the next full sync is compared with the last full one."""
    from classlink_sync.oneroster.records import CollectionStatus
    from classlink_sync.sync.undo import undo_run

    onboard(store, "r19-delta")
    inbox = Inbox()
    assert sync(store, clock, "r19-delta", snapshot()) == "succeeded"
    assert "first sync done, 1 issue" in one_each(inbox.new())

    clock.at(0, 3)  # the district fixed the class: a delta carries only that class
    fixed = snapshot(art="Spanish Art 2")
    only_the_class = RosterSnapshot(classes={"c2": fixed.classes["c2"]})
    for name in ("orgs", "academicSessions", "courses", "classes", "users", "enrollments"):
        n = len(only_the_class.classes) if name == "classes" else 0
        only_the_class.collections[name] = CollectionStatus(name, False, n, n, "a delta never proves absence (R9)")
    assert sync(store, clock, "r19-delta", only_the_class, mode="delta") == "succeeded"
    assert inbox.new() == []

    clock.at(1)  # the full sync then tells the district once, compared with the last full sync
    assert sync(store, clock, "r19-delta", fixed) == "succeeded"
    assert one_each(inbox.new()) == "ClassLink sync of r19-delta: 1 issue resolved"

    clock.at(1, 2)
    last = next(r for r in runs.list_runs("r19-delta", store) if r.status == "succeeded" and r.mode == "full")
    assert undo_run("r19-delta", last.run_id, store).status == "succeeded"
    assert inbox.new() == []
