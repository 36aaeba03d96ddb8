"""Run records (SPEC §3): the DynamoDB item keeps the counts, the issue count and pointers; the full
report JSON (``{run, counts, issues, plan}``) and, for a run held for review (R10), the serialised
plan go to the report bucket."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from classlink_sync.rules.plan import Issue, Plan
from classlink_sync.store.context import Store, resolve
from classlink_sync.store.reports import get_json, put_json

STATUSES = ("running", "succeeded", "held", "failed", "dry_run", "discarded", "approved")
FINAL_STATUSES = frozenset(STATUSES) - {"running"}
TRIGGERS = ("schedule", "manual", "approve", "dry_run")


@dataclass(frozen=True)
class RunRecord:
    district_id: str
    run_id: str
    started: str
    trigger: str
    status: str
    ended: str | None = None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    issue_count: int = 0
    roster_writes: int | None = None
    report_key: str | None = None
    plan_key: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def new_run_id(now: dt.datetime | None = None) -> str:
    """A time-ordered run id, e.g. ``20260115T020000Z-3f9a1c``."""
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def report_key(district_id: str, run_id: str) -> str:
    return f"reports/{district_id}/{run_id}.json"


def plan_key(district_id: str, run_id: str) -> str:
    return f"plans/{district_id}/{run_id}.json"


def _record(item: Any) -> RunRecord:
    return RunRecord(
        district_id=item.pk,
        run_id=item.sk,
        started=item.started,
        trigger=item.trigger,
        status=item.status,
        ended=item.ended,
        counts=item.counts or {},
        issue_count=int(item.issue_count or 0),
        roster_writes=None if item.roster_writes is None else int(item.roster_writes),
        report_key=item.report_key,
        plan_key=item.plan_key,
        error=item.error,
    )


def create_run(district_id: str, trigger: str, store: Store | None = None, *, run_id: str | None = None) -> RunRecord:
    """Record the start of a run (status ``running``); the run id must be new for the district."""
    store = resolve(store)
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}; expected one of {TRIGGERS}")
    Run = store.models.Run
    item = Run(pk=district_id, sk=run_id or new_run_id(), started=_now(), trigger=trigger, status="running")
    item.save(condition=Run.sk.does_not_exist())
    return _record(item)


def finish_run(
    district_id: str,
    run_id: str,
    status: str,
    store: Store | None = None,
    *,
    counts: dict[str, dict[str, int]] | None = None,
    issues: list[Issue] | None = None,
    plan: Plan | None = None,
    roster_writes: int | None = None,
    error: str | None = None,
    extra: dict[str, Any] | None = None,
) -> RunRecord:
    """Finish a run: write the full report (and, if held, the plan) to S3, then the record's
    counts, issue count and pointers (SPEC §3, R10, R12)."""
    store = resolve(store)
    if status not in FINAL_STATUSES:
        raise ValueError(f"unknown run status {status!r}; expected one of {sorted(FINAL_STATUSES)}")
    Run = store.models.Run
    item = Run.get(district_id, run_id, consistent_read=True)
    counts = counts if counts is not None else (plan.counts if plan is not None else {})
    issues = issues if issues is not None else (plan.issues if plan is not None else [])
    ended = _now()
    report: dict[str, Any] = {
        "run": {
            "district_id": district_id,
            "run_id": run_id,
            "started": item.started,
            "ended": ended,
            "trigger": item.trigger,
            "status": status,
            "error": error,
            "roster_writes": roster_writes,
        },
        "counts": counts,
        "issues": [asdict(i) for i in issues],
        "plan": _plan_summary(plan),
        **(extra or {}),
    }
    item.report_key = put_json(store.settings, report_key(district_id, run_id), report)
    if status == "held" and plan is not None:
        item.plan_key = put_json(store.settings, plan_key(district_id, run_id), plan.to_dict())
    item.status, item.ended, item.counts = status, ended, counts
    item.issue_count, item.roster_writes, item.error = len(issues), roster_writes, error
    item.save()
    return _record(item)


def set_status(district_id: str, run_id: str, status: str, store: Store | None = None) -> RunRecord:
    """Change a finished run's status, e.g. a held run to ``approved`` or ``discarded`` (R10)."""
    store = resolve(store)
    if status not in FINAL_STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    Run = store.models.Run
    item = Run.get(district_id, run_id, consistent_read=True)
    item.update(actions=[Run.status.set(status)], condition=Run.sk.exists())
    return _record(item)


def get_run(district_id: str, run_id: str, store: Store | None = None) -> RunRecord | None:
    store = resolve(store)
    try:
        return _record(store.models.Run.get(district_id, run_id, consistent_read=True))
    except store.models.Run.DoesNotExist:
        return None


def list_runs(district_id: str, store: Store | None = None, *, limit: int = 50) -> list[RunRecord]:
    """The district's runs, newest first (the ``by_start`` index)."""
    store = resolve(store)
    Run = store.models.Run
    keys = [(i.pk, i.sk) for i in Run.by_start.query(district_id, scan_index_forward=False, limit=limit)]
    if not keys:
        return []
    found = {(i.pk, i.sk): i for i in Run.batch_get(keys)}
    return [_record(found[k]) for k in keys if k in found]


def load_report(record: RunRecord, store: Store | None = None) -> dict[str, Any]:
    """The full report JSON of a finished run."""
    store = resolve(store)
    if not record.report_key:
        raise LookupError(f"run {record.run_id} has no report yet")
    result: dict[str, Any] = get_json(store.settings, record.report_key)
    return result


def load_held_plan(record: RunRecord, store: Store | None = None) -> Plan:
    """The plan a held run kept (R10)."""
    store = resolve(store)
    if not record.plan_key:
        raise LookupError(f"run {record.run_id} kept no plan (status {record.status})")
    return Plan.from_dict(get_json(store.settings, record.plan_key))


def _plan_summary(plan: Plan | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    return {
        "fetch_complete": plan.fetch_complete,
        "incomplete_reasons": list(plan.incomplete_reasons),
        "roster_writes_planned": plan.roster_writes_planned(),
        "actions": {
            name: {action: len(items) for action, items in getattr(plan, name).items()}
            for name in ("accounts", "reservations", "classes", "enrollments", "schools")
        },
        "recommended_for_removal": list(plan.recommended_for_removal),
        "guard": asdict(plan.guard),
    }
