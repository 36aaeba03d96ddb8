"""One district's sync, end to end: lease -> fetch -> validate/plan -> (hold | apply) -> run record.

This is the core that the district-sync Lambda, ``classlink-sync sync`` and the local ``daily``
all call (DESIGN.md "Flow"): the handler only parses the SQS record. The stages stay separate:
``oneroster`` fetches, ``rules`` plans (pure), ``store`` applies and records.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit

from classlink_sync.oneroster.records import RosterSnapshot
from classlink_sync.rules.holdings import gather
from classlink_sync.rules.plan import Plan
from classlink_sync.rules.planner import plan as make_plan
from classlink_sync.store import districts as district_store
from classlink_sync.store import locks, runs
from classlink_sync.store.accounts import reset_district
from classlink_sync.store.apply import apply_plan
from classlink_sync.store.context import Store, resolve
from classlink_sync.store.view import DynamoRosterView
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.report import DRY_RUN, FAILED, HELD, SUCCEEDED, RunReport

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

logger = Logger()

# R14: a lease outlives the longest sync (the function's 900 s timeout) so a killed sync's lease
# expires on its own, and no second sync of the district starts while one may still be writing.
LEASE_SECONDS = 960
# Leave this much of the invocation for the run record after apply stops between chunks.
RECORD_MARGIN_SECONDS = 30


class DistrictBusy(RuntimeError):
    """Another sync of this district holds the lease (R14); the message is retried later."""


class SyncFailed(RuntimeError):
    """The sync ended in ``failed``; its run record says why. Raised so SQS retries it."""

    def __init__(self, report: RunReport) -> None:
        super().__init__(f"sync {report.run_id} of district {report.district_id} failed: {report.error}")
        self.report = report


Fetcher = Callable[[district_store.District, Store], RosterSnapshot]


def fetch_district(district: district_store.District, store: Store) -> RosterSnapshot:
    """Read the district's whole roster from its Roster Server with its stored credentials."""
    from classlink_sync.oneroster.client import OneRosterClient
    from classlink_sync.sync.credentials import roster_auth

    auth = roster_auth(district, store.settings)
    with OneRosterClient(district.oneroster_url, auth, concurrency=store.settings.page_concurrency) as client:
        return client.fetch_snapshot()


@dataclass
class SyncOutcome:
    """What ``run_sync`` returns: the run report, and the plan (for dry runs and tests)."""

    report: RunReport
    plan: Plan | None

    @property
    def status(self) -> str:
        return self.report.status

    @property
    def run_id(self) -> str:
        return self.report.run_id


def run_sync(
    request: SyncRequest,
    *,
    store: Store | None = None,
    fetch: Fetcher | None = None,
    deadline: float | None = None,
    raise_on_failure: bool = True,
) -> SyncOutcome:
    """Run one district's sync as ``request`` asks (SPEC R1, R2, R9, R10, R12, R14).

    ``deadline`` is a ``time.monotonic()`` value by which apply must stop between chunks (the
    Lambda's remaining time); a stopped apply is resumed by the next run, which re-plans and
    writes only what is still missing (apply is idempotent). Raises ``DistrictBusy`` when another
    sync holds the lease and, unless ``raise_on_failure`` is False, ``SyncFailed`` after recording
    a failed run.
    """
    store = resolve(store)
    fetch = fetch or fetch_district
    district = district_store.get_district(request.district_id, store)
    held_run = _held_run_to_approve(request, store)
    run_id = runs.new_run_id()
    # A dry run writes no roster data, so it neither needs nor blocks the lease (R12).
    if not request.dry_run and not locks.acquire_lease(district.district_id, run_id, LEASE_SECONDS, store):
        raise DistrictBusy(f"another sync of district {district.district_id} is running (R14); retry later")
    logger.append_keys(district_id=district.district_id, run_id=run_id)
    record = runs.create_run(district.district_id, request.trigger, store, run_id=run_id)
    report = RunReport(
        district_id=district.district_id,
        run_id=record.run_id,
        trigger=request.trigger,
        started_at=record.started,
        dry_run=request.dry_run,
    )
    plan: Plan | None = None
    extra: dict[str, Any] = {}
    try:
        plan = _sync(request, district, store, fetch, report, extra, deadline)
    except Exception as exc:  # recorded, then re-raised for SQS to retry (and the DLQ alarm)
        logger.exception("district sync failed")
        report.status = FAILED
        report.error = f"{type(exc).__name__}: {exc}"
    finally:
        try:
            _finish(report, plan, store, extra)
        finally:
            if not request.dry_run:
                locks.release_lease(district.district_id, run_id, store)
            logger.remove_keys(["district_id", "run_id"])
    if report.status == SUCCEEDED and held_run is not None:
        runs.set_status(district.district_id, held_run, "approved", store)
    if report.status == FAILED and raise_on_failure:
        raise SyncFailed(report)
    return SyncOutcome(report, plan)


def _held_run_to_approve(request: SyncRequest, store: Store) -> str | None:
    """R10: an approval names a held run of the same district; anything else is refused."""
    if request.trigger != "approve":
        return None
    assert request.approve_run_id is not None
    held = runs.get_run(request.district_id, request.approve_run_id, store)
    if held is None:
        raise ValueError(f"R10: district {request.district_id} has no run {request.approve_run_id}")
    if held.status != HELD:
        raise ValueError(
            f"R10: run {request.approve_run_id} of district {request.district_id} is {held.status}, "
            "not held for review; only a held run can be approved"
        )
    return request.approve_run_id


def _sync(
    request: SyncRequest,
    district: district_store.District,
    store: Store,
    fetch: Fetcher,
    report: RunReport,
    extra: dict[str, Any],
    deadline: float | None,
) -> Plan:
    timings = report.timings
    started = time.perf_counter()
    snapshot = fetch(district, store)
    timings["fetch_s"] = round(time.perf_counter() - started, 3)
    report.fetch_complete = snapshot.complete
    report.incomplete_reasons = snapshot.incomplete_reasons

    if not request.dry_run and not district.reset_done:
        # R2: before the first sync the district's existing data is reset (archived and
        # deactivated, nothing destroyed); the plan below then relinks what matches (R6).
        reset = reset_district(district.district_id, store)
        extra["reset"] = reset.__dict__ if hasattr(reset, "__dict__") else str(reset)
        logger.info("R2 reset before the first sync", extra={"reset": extra["reset"]})

    started = time.perf_counter()
    view = DynamoRosterView(store)
    holdings = gather(view, district.district_id, snapshot)
    timings["read_store_s"] = round(time.perf_counter() - started, 3)
    extra["store_reads"] = view.stats.__dict__ if hasattr(view, "stats") else {}

    started = time.perf_counter()
    plan = make_plan(
        snapshot,
        holdings,
        district.to_settings(),
        today=request.date,
        waive_guard=request.trigger == "approve",
    )
    timings["plan_s"] = round(time.perf_counter() - started, 3)
    del snapshot, holdings  # the plan references what it needs; free the rest before apply
    report.counts = plan.counts
    report.issues = list(plan.issues)
    report.recommended_for_removal = list(plan.recommended_for_removal)
    if plan.guard.tripped and not plan.guard.waived:
        report.guard_reasons = list(plan.guard.reasons)

    if request.dry_run:
        report.status = DRY_RUN  # R12: everything planned, nothing written
        return plan
    if report.guard_reasons:
        report.status = HELD  # R10: the whole run writes no roster data
        return plan

    started = time.perf_counter()
    stop_at = None if deadline is None else deadline - RECORD_MARGIN_SECONDS
    result = apply_plan(plan, store, deadline=stop_at)
    timings["apply_s"] = round(time.perf_counter() - started, 3)
    report.roster_writes = result.total_roster_writes
    report.issues.extend(result.issues)  # R5 conflicts found at write time
    extra["apply"] = {
        "roster_writes": result.roster_writes,
        "skipped": result.skipped,
        "throttled_retries": result.throttled_retries,
        "unprocessed_retries": result.unprocessed_retries,
    }
    if not result.complete:
        done = len(result.checkpoint.done)
        raise TimeoutError(
            f"apply reached the time budget after {done} of {result.chunks_total} chunks; "
            "the next run re-plans and writes only what is still missing"
        )
    if not report.fetch_complete:
        report.status = FAILED
        report.error = (
            "ClassLink's data could not be read completely, so nothing was removed (R9); "
            "what was read was applied. " + "; ".join(report.incomplete_reasons)
        )
        return plan
    if not district.first_sync_done:
        district_store.mark_first_sync(district.district_id, store)
    report.status = SUCCEEDED
    return plan


def _finish(report: RunReport, plan: Plan | None, store: Store, extra: dict[str, Any]) -> None:
    report.ended_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    extra = {
        **extra,
        "dry_run": report.dry_run,
        "timings": report.timings,
        "fetch_complete": report.fetch_complete,
        "incomplete_reasons": report.incomplete_reasons,
        "guard_reasons": report.guard_reasons,
        "recommended_for_removal": report.recommended_for_removal,
    }
    runs.finish_run(
        report.district_id,
        report.run_id,
        report.status,
        store,
        counts=report.counts,
        issues=report.issues,
        plan=plan if report.status == HELD else None,
        roster_writes=report.roster_writes,
        error=report.error,
        extra=extra,
    )
    logger.info(
        "district sync finished",
        extra={
            "status": report.status,
            "counts": report.counts,
            "issues": len(report.issues),
            "roster_writes": report.roster_writes,
            "timings": report.timings,
        },
    )


def emit_run_metrics(metrics: Metrics, report: RunReport) -> None:
    """EMF metrics of one run, for the handler to flush (``log_metrics``); the alarms watch
    ``SyncFailed`` and ``SyncHeld``."""
    metrics.add_metric(name="SyncRuns", unit=MetricUnit.Count, value=1)
    if report.status == FAILED:
        metrics.add_metric(name="SyncFailed", unit=MetricUnit.Count, value=1)
    if report.status == HELD:
        metrics.add_metric(name="SyncHeld", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="RosterWrites", unit=MetricUnit.Count, value=report.roster_writes)
    metrics.add_metric(name="DataQualityIssues", unit=MetricUnit.Count, value=len(report.issues))
