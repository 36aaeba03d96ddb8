"""R19: is this run news for the district, and which emails say it. Pure: no I/O, no clock.

``decide(report, previous, district, now)`` returns a ``Notification`` (one email per contact) or
None. A run is news when:

- it **failed** or was **held** for review (R10): at most once a day per district and kind
  (``once_a_day``: the hook claims the day before sending, so two runs on one day send once);
  when the district has not synced successfully for ``STALE_AFTER`` (48 hours: since the start
  of its last succeeded or paused run, ``unsuccessful_since``), that daily email says so, and a
  district failing for days hears once a day, not once per run;
- it was **paused** (R16) and the run before it was not;
- it **succeeded** and the run before it did not (first sync, back after a failure or a hold,
  resumed after a pause), or its set of issues differs from the last complete plan's.

Issues are compared by key: rule, entity, sourcedId and field (``issue_key``). The baseline is
the last run that planned on a complete fetch (succeeded, held, approved, discarded); a failed run
is never one (its fetch may have been partial). Dry runs (R12) are never news and never a baseline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from classlink_sync.report import RunReport
from classlink_sync.rules.plan import Issue

STALE_AFTER = dt.timedelta(hours=48)

# Status classes: what a run's status means for the district.
OK, HELD, FAILED, PAUSED = "ok", "held", "failed", "paused"
STATUS_CLASS = {
    "succeeded": OK,
    "held": HELD,
    "approved": HELD,  # a held run staff approved (the approve run after it is its own run)
    "discarded": HELD,
    "failed": FAILED,
    "abandoned": FAILED,  # killed or crashed (R14)
    "paused": PAUSED,  # R16
}
BASELINE_STATUSES = frozenset({"succeeded", "held", "approved", "discarded"})

# Kinds of notification.
FIRST = "first"  # the district's first sync (that was not a dry run) succeeded
ISSUES = "issues"  # succeeded again, with a different set of issues
RECOVERED = "recovered"  # succeeded after a failed or held run
RESUMED = "resumed"  # succeeded after a pause
KIND_FAILED, KIND_HELD, KIND_PAUSED = "failed", "held", "paused"
ONCE_A_DAY = frozenset({KIND_FAILED, KIND_HELD})


@dataclass(frozen=True)
class PastRun:
    """One earlier run of the district as its run record says (``store.runs.RunRecord``)."""

    run_id: str
    status: str
    started: str  # ISO 8601


@dataclass(frozen=True)
class Previous:
    """What came before this run: the district's earlier runs, newest first (this one excluded),
    and the issues of the baseline run (``baseline_run(runs)``), None when there is none."""

    runs: tuple[PastRun, ...] = ()
    baseline_issues: tuple[Issue, ...] | None = None


@dataclass(frozen=True)
class DistrictState:
    district_id: str
    contacts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Notice:
    """What is news about this run (everything ``compose`` needs)."""

    kind: str
    report: RunReport
    previous_class: str | None = None  # of the run before (OK, HELD, FAILED, PAUSED); None: first
    new_issues: tuple[Issue, ...] = ()
    resolved_issues: tuple[Issue, ...] = ()
    unsuccessful_since: dt.datetime | None = None  # not synced successfully since (failed, held)
    last_success: dt.datetime | None = None
    now: dt.datetime | None = None

    @property
    def stale(self) -> bool:
        """No successful sync for ``STALE_AFTER`` (R19's daily reminder)."""
        since, now = self.unsuccessful_since, self.now
        return since is not None and now is not None and now - since >= STALE_AFTER


@dataclass(frozen=True)
class Notification:
    notice: Notice
    emails: tuple[Email, ...] = field(default_factory=tuple)

    @property
    def kind(self) -> str:
        return self.notice.kind

    @property
    def once_a_day(self) -> bool:
        return self.notice.kind in ONCE_A_DAY


def issue_key(issue: Issue) -> tuple[str, str, str, str]:
    """What makes two runs' issues the same issue (R19): rule, entity, sourcedId, field."""
    return (issue.rule, issue.entity, issue.sourced_id or "", issue.field or "")


def issue_changes(current: Iterable[Issue], baseline: Iterable[Issue]) -> tuple[list[Issue], list[Issue]]:
    """(new, resolved): this run's issues whose key the baseline lacks, and the baseline's issues
    whose key this run lacks; each key once, in the order given."""
    now = {issue_key(i): i for i in current}
    before = {issue_key(i): i for i in baseline}
    return [i for k, i in now.items() if k not in before], [i for k, i in before.items() if k not in now]


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def status_class(status: str) -> str | None:
    """The class of a run status; None for runs that say nothing (dry runs, still running)."""
    return STATUS_CLASS.get(status)


def previous_class(runs: Sequence[PastRun]) -> str | None:
    return next((c for c in (status_class(r.status) for r in runs) if c is not None), None)


def baseline_run(runs: Sequence[PastRun]) -> PastRun | None:
    """The latest earlier run whose issues came from a plan on a complete fetch."""
    return next((r for r in runs if r.status in BASELINE_STATUSES), None)


def last_success(runs: Sequence[PastRun]) -> dt.datetime | None:
    return next((parse_time(r.started) for r in runs if status_class(r.status) == OK), None)


def unsuccessful_since(started: str, runs: Sequence[PastRun]) -> dt.datetime | None:
    """Since when the district has not synced successfully, for a failed or held run starting at
    ``started``: the start of its last succeeded run, or of its last paused one (a pause is no
    failure, and its time does not count); with neither among ``runs``, the start of the earliest
    failed or held run known (this one at least). Dry runs do not count."""
    since = parse_time(started)
    for run in runs:
        cls = status_class(run.status)
        if cls in (OK, PAUSED):
            return parse_time(run.started) or since
        if cls is not None:
            since = parse_time(run.started) or since
    return since


def classify(report: RunReport, previous: Previous, now: dt.datetime) -> Notice | None:
    """The news in this run, or None (see the module docstring)."""
    cls = None if report.dry_run else status_class(report.status)
    if cls is None:
        return None
    before = previous_class(previous.runs)
    base = Notice("", report, previous_class=before, now=now, last_success=last_success(previous.runs))
    if cls == PAUSED:
        return None if before == PAUSED else replace(base, kind=KIND_PAUSED)
    if cls == FAILED:  # its issues may come from a partial fetch: not compared
        return replace(base, kind=KIND_FAILED, unsuccessful_since=unsuccessful_since(report.started_at, previous.runs))
    new, resolved = issue_changes(report.issues, previous.baseline_issues or ())
    changed = replace(base, new_issues=tuple(new), resolved_issues=tuple(resolved))
    if cls == HELD:
        return replace(changed, kind=KIND_HELD, unsuccessful_since=unsuccessful_since(report.started_at, previous.runs))
    kind = {None: FIRST, FAILED: RECOVERED, HELD: RECOVERED, PAUSED: RESUMED}.get(before)
    if kind is None and (new or resolved):
        kind = ISSUES
    return None if kind is None else replace(changed, kind=kind)


def decide(
    report: RunReport,
    previous: Previous,
    district: DistrictState,
    now: dt.datetime,
    *,
    portal_url: str | None = None,
) -> Notification | None:
    """The emails this run calls for: one per contact, or None (no contact, or nothing new)."""
    from classlink_sync.notify.compose import compose

    if not district.contacts:
        return None
    notice = classify(report, previous, now)
    if notice is None:
        return None
    subject, text, html = compose(notice, portal_url=portal_url)
    return Notification(notice, tuple(Email(to, subject, text, html) for to in district.contacts))
