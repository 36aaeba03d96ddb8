"""One district's sync, end to end: lease -> fetch -> validate/plan -> (hold | apply) -> run record.

This is the core that the district-sync Lambda, ``classlink-sync sync`` and the local ``daily``
all call (DESIGN.md "Flow"): the handler only parses the SQS record. The stages stay separate:
``oneroster`` fetches, ``rules`` plans (pure), ``store`` applies and records.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit

from classlink_sync.errors import DistrictBusy as DistrictBusy
from classlink_sync.errors import SyncFailed as SyncFailed
from classlink_sync.notify.hook import notify_after_run
from classlink_sync.oneroster.records import RosterSnapshot
from classlink_sync.redact import redact_userinfo
from classlink_sync.report import DRY_RUN, FAILED, HELD, SUCCEEDED, RunReport, counts_by_school
from classlink_sync.rules import calendar
from classlink_sync.rules.holdings import Holdings, RosterView, gather
from classlink_sync.rules.limits import username_problem
from classlink_sync.rules.normalise import normalise
from classlink_sync.rules.plan import Plan
from classlink_sync.rules.planner import plan as make_plan
from classlink_sync.store import districts as district_store
from classlink_sync.store import locks, runs
from classlink_sync.store.accounts import reset_district
from classlink_sync.store.apply import DEFAULT_CHUNK, ApplyResult, apply_plan
from classlink_sync.store.context import Store, resolve
from classlink_sync.store.view import DynamoRosterView
from classlink_sync.sync import continuation, delta
from classlink_sync.sync.messages import SyncRequest

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from classlink_sync.oneroster.client import AbsenceCheck
    from classlink_sync.oneroster.records import Record

logger = Logger()

# R14: a lease outlives the longest sync (the function's 900 s timeout) so a killed sync's lease
# expires on its own, and no second sync of the district starts while one may still be writing.
LEASE_SECONDS = 960
# Leave this much of the invocation for the run record after apply stops between chunks.
RECORD_MARGIN_SECONDS = 30
# Items per apply chunk: the unit of a checkpoint, hence of a continued sync's progress (R20). A
# continued run keeps the size it started with (its checkpoint names chunks by index).
APPLY_CHUNK_SIZE = DEFAULT_CHUNK


class AbsenceConfirmer(Protocol):
    """``OneRosterClient.confirm_absent`` for one district's Roster Server (R9 proven absence)."""

    def __call__(self, collection: str, sourced_ids: Iterable[str], /) -> AbsenceCheck: ...


@dataclass
class Fetched:
    """What a fetcher returns: the snapshot and the confirmer that proves absence from it (R9).

    ``confirm_absent=None`` skips the proof explicitly: absence from a complete fetch is then
    trusted as it is, and the run record's ``absence_checks`` says the check was skipped.
    """

    snapshot: RosterSnapshot
    confirm_absent: AbsenceConfirmer | None = None


# The fetcher seam (``run_sync(fetch=...)``): reads one district's roster. The default,
# ``fetch_roster``, returns ``Fetched`` with a confirmer on the district's Roster Server. A fetcher
# may also return a bare ``RosterSnapshot`` (tests' fakes, a recorded snapshot): that is
# ``Fetched(snapshot, None)``, so proven absence is skipped, explicitly and on the record.
Fetcher = Callable[[district_store.District, Store], "Fetched | RosterSnapshot"]

# R9 proven absence: the collections whose held records a sync may remove, and where the snapshot
# keeps them; and how many ids per collection the run record names.
ABSENCE_COLLECTIONS: tuple[tuple[str, str], ...] = (
    ("orgs", "orgs"),
    ("classes", "classes"),
    ("users", "users"),
    ("enrollments", "enrollments"),
)
ABSENCE_IDS_IN_RECORD = 20


def fetch_roster(district: district_store.District, store: Store) -> Fetched:
    """Read the district's whole roster from its Roster Server with its stored credentials, and
    keep the means to prove absence from it (R9): each confirmation opens its own client with the
    same credentials, retries and page concurrency."""
    from classlink_sync.oneroster.client import OneRosterClient
    from classlink_sync.sync.credentials import roster_auth

    auth = roster_auth(district, store.settings)

    def client() -> OneRosterClient:
        return OneRosterClient(district.oneroster_url, auth, concurrency=store.settings.page_concurrency)

    with client() as reader:
        snapshot = reader.fetch_snapshot()

    def confirm_absent(collection: str, sourced_ids: Iterable[str]) -> AbsenceCheck:
        with client() as reader:
            return reader.confirm_absent(collection, sourced_ids)

    return Fetched(snapshot, confirm_absent)


def fetch_district(district: district_store.District, store: Store) -> RosterSnapshot:
    """Read the district's whole roster (the snapshot alone; ``fetch_roster`` also proves absence)."""
    return fetch_roster(district, store).snapshot


@dataclass
class SyncOutcome:
    """What ``run_sync`` returns: the run report, and the plan (for dry runs and tests)."""

    report: RunReport
    plan: Plan | None
    # R20: the run continues in follow-up ``hop`` (status ``running``); ``superseded``: another
    # invocation owns the run, this one did nothing; ``ended``: the run had already ended, nothing
    # was run again (a late copy of a message).
    hop: int | None = None
    superseded: bool = False
    ended: bool = False
    # R17: a queued undo that was refused (recorded as a failed undo run naming why): a decision,
    # not a fault, so the message is done (delivering it again would be refused again).
    refused: bool = False

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
    delivery: continuation.Delivery | None = None,
) -> SyncOutcome:
    """Run one district's sync as ``request`` asks (SPEC R1, R2, R9, R10, R12, R14, R20).

    ``deadline`` is a ``time.monotonic()`` value by which apply must stop between chunks (the
    Lambda's remaining time). Inside a queue delivery (``delivery``, by default the worker's
    ``continuation.delivered``) a run that reaches it continues in a follow-up message and returns
    with status ``running`` (``sync.continuation``); a follow-up (``request.continuation``)
    continues its run. Outside one, a stopped apply fails the run and the next run re-plans and
    writes only what is still missing (apply is idempotent). Raises ``DistrictBusy`` when another
    sync holds the lease and, unless ``raise_on_failure`` is False, ``SyncFailed`` after recording
    a failed run.
    """
    store = resolve(store)
    if request.trigger == "undo":  # R17: an undo asked for through the sync queue (the portal, S7)
        from classlink_sync.sync.undo import undo_from_request

        return undo_from_request(request, store=store, deadline=deadline, raise_on_failure=raise_on_failure)
    delivery = delivery if delivery is not None else continuation.current_delivery()
    fetch = fetch or (delta.fetcher(request, store) if request.mode == "delta" else fetch_roster)  # R18
    routed = _route(request, store, deadline, delivery, raise_on_failure)
    if isinstance(routed, SyncOutcome):
        return routed
    district, held_run, first = routed
    run_id = first.run_id
    # A dry run writes no roster data, so it neither needs nor blocks the lease (R12).
    if not request.dry_run and not take_lease(district.district_id, run_id, store):
        raise DistrictBusy(f"another sync of district {district.district_id} is running (R14); retry later")
    logger.append_keys(district_id=district.district_id, run_id=run_id)
    opened = _open_run(request, first, delivery, store)
    if opened is None:  # another invocation owns the run (R20): this one does nothing
        logger.remove_keys(["district_id", "run_id"])
        return continuation.ended_outcome(request, run_id, store)
    started, owner = opened
    report = RunReport(
        district_id=district.district_id,
        run_id=run_id,
        trigger=request.trigger,
        started_at=started,
        dry_run=request.dry_run,
        mode=request.mode,
    )
    plan: Plan | None = None
    extra: dict[str, Any] = {}
    try:
        plan = _sync(request, district, store, fetch, report, extra, deadline, delivery=delivery, owner=owner)
    except continuation.HandedOff as handed:  # R20: the run goes on in a follow-up; lease kept
        logger.remove_keys(["district_id", "run_id"])
        report.status = runs.RUNNING
        return SyncOutcome(report, None, hop=handed.pointer.hop)
    except continuation.Superseded as exc:  # R20: the run is no longer this invocation's
        logger.warning("R20: stopped, another invocation owns the run", extra={"reason": str(exc)})
        logger.remove_keys(["district_id", "run_id"])
        report.status = runs.RUNNING
        return SyncOutcome(report, None, superseded=True)
    except continuation.ContinuationRetry:  # R20: the run stays running; SQS delivers the message again
        logger.remove_keys(["district_id", "run_id"])
        raise
    except Exception as exc:  # recorded, then re-raised for SQS to retry (and the DLQ alarm)
        logger.exception("district sync failed")
        report.status = FAILED
        report.error = redact_userinfo(f"{type(exc).__name__}: {exc}")  # no URL's user:password@
    except BaseException:
        # Killed (KeyboardInterrupt, a test's simulated kill): nothing more is written, as when the
        # process dies; the run is shown abandoned once its lease expires. Outside a queue delivery
        # a person stopped the command, so the lease is given back at once.
        if delivery is None and not request.dry_run:
            locks.release_lease(district.district_id, run_id, store)
        logger.remove_keys(["district_id", "run_id"])
        raise
    try:
        finish_record(report, plan, store, extra)
    finally:
        if not request.dry_run:
            locks.release_lease(district.district_id, run_id, store)
        logger.remove_keys(["district_id", "run_id"])
    if report.status == SUCCEEDED and held_run is not None:
        runs.set_status(district.district_id, held_run, "approved", store)
    notify_after_run(report, store, district=district)  # R19, best effort: never fails the sync
    if report.status == FAILED and raise_on_failure:
        raise SyncFailed(report)
    return SyncOutcome(report, plan)


def _route(
    request: SyncRequest,
    store: Store,
    deadline: float | None,
    delivery: continuation.Delivery | None,
    raise_on_failure: bool,
) -> SyncOutcome | tuple[district_store.District, str | None, continuation.FirstHop]:
    """R20: a follow-up continues its run; a first message whose run an earlier receive started
    goes back to that run. Otherwise: the district, the held run an approval names, the run id."""
    if request.continuation is not None:
        return continuation.continue_sync(
            request, store=store, deadline=deadline, delivery=delivery, raise_on_failure=raise_on_failure
        )
    district = district_store.get_district(request.district_id, store)
    held_run = _held_run_to_approve(request, store)
    paused = paused_outcome(request, district, store)  # R16: nothing fetched or written
    if paused is not None:
        return paused
    first = continuation.first_hop(request, delivery, store)
    if first.resume is not None:  # this message's run handed off, then the message came back
        return continuation.continue_sync(
            request,
            store=store,
            deadline=deadline,
            delivery=delivery,
            raise_on_failure=raise_on_failure,
            pointer=first.resume,
        )
    if first.ended:
        return continuation.ended_outcome(request, first.run_id, store)
    return district, held_run, first


def paused_outcome(request: SyncRequest, district: district_store.District, store: Store) -> SyncOutcome | None:
    """R16: a schedule or staff sync whose date falls in the district's pause or a blackout is
    recorded as a ``paused`` run with the reason, and the district remembers its first paused slot
    (``paused_since``): nothing is fetched or written, no email is sent. Dry runs (R12: a preview)
    and approvals of a held run (R10) are not paused. None when the sync goes ahead."""
    if request.dry_run or request.trigger not in ("schedule", "manual"):
        return None
    reason = calendar.paused_reason(district, dt.date.fromisoformat(request.date))
    if reason is None:
        return None
    record = runs.record_paused(district.district_id, request.date, reason, store, trigger=request.trigger)
    district_store.mark_paused_since(district.district_id, request.date, store)
    logger.info("R16: sync paused", extra={"district_id": district.district_id, "reason": record.reason})
    report = RunReport(
        district_id=district.district_id,
        run_id=record.run_id,
        trigger=request.trigger,
        started_at=record.started,
        status=runs.PAUSED,
        ended_at=record.ended,
        mode=request.mode,
        reason=record.reason,
    )
    return SyncOutcome(report, None)


def calendar_planner(request: SyncRequest, district: district_store.District) -> Callable[..., Plan]:
    """R16: ``planner.plan`` with the district's windows on the sync's date: ``defer_removals`` when
    an additions-only range covers it, ``hold_removals`` when the district's first paused slot since
    its last applied sync is more than 14 days back (R10 then holds any removal)."""
    day = dt.date.fromisoformat(request.date)
    return functools.partial(
        make_plan,
        defer_removals=calendar.additions_only_reason(district, day),
        hold_removals=calendar.long_pause(district.paused_since, day, district.paused_last),
    )


def _open_run(
    request: SyncRequest, first: continuation.FirstHop, delivery: continuation.Delivery | None, store: Store
) -> tuple[str, str | None] | None:
    """Create the run record (or take up this message's interrupted one) and, inside a queue
    delivery, make this invocation its owner (hop 0, R20). Its start time and owner; None when
    another invocation owns it."""
    if first.rerun is not None:
        # R20: an earlier receive of this message was killed before it handed off: the same run
        # record goes on, and fetching and planning again leaves only what is still missing.
        logger.warning("R20: this message's run was interrupted; syncing again under the same run record")
        started = first.rerun.started
    else:
        started = runs.create_run(
            request.district_id, request.trigger, store, run_id=first.run_id, mode=request.mode
        ).started
    if delivery is None or request.dry_run:
        return started, None
    if not runs.claim_hop(request.district_id, first.run_id, 0, delivery.message_id, store):
        return None
    return started, delivery.message_id


def take_lease(district_id: str, holder: str, store: Store | None = None, *, seconds: float = LEASE_SECONDS) -> bool:
    """Take the district's lease for a sync or an R2 reset (R14); False while another holder's is
    unexpired. A run whose expired lease this takes over never finished (killed or crashed): its
    record, if still ``running``, is marked ``abandoned`` (best effort: ``runs`` shows it so anyway).
    A continued run (R20) takes it again by its run id for ``seconds``."""
    store = resolve(store)
    taken = locks.take_lease(district_id, holder, seconds, store)
    if taken is None:
        return False
    previous = taken.taken_over
    if previous is not None and previous.holder:
        try:
            if runs.mark_abandoned(district_id, previous.holder, lease_expired_at=previous.expires, store=store):
                logger.warning(
                    "took over the expired lease of an abandoned run",
                    extra={"district_id": district_id, "abandoned_run_id": previous.holder},
                )
        except Exception:  # the new sync goes on; the record is shown as abandoned all the same
            logger.warning("could not mark the abandoned run", extra={"abandoned_run_id": previous.holder})
    return True


def _held_run_to_approve(request: SyncRequest, store: Store) -> str | None:
    """R10: an approval names a held run of the same district; anything else is refused."""
    if request.trigger != "approve":
        return None
    if request.approve_run_id is None:
        raise ValueError(f"R10: an approval for district {request.district_id} names no held run")
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
    *,
    delivery: continuation.Delivery | None = None,
    owner: str | None = None,
) -> Plan:
    timings = report.timings
    # R20: the run record shows how far the run has got (``progress``), written by ``tracker``.
    tracker = continuation.Tracker(store, district.district_id, report.run_id, 0, progress={}, owner=owner)
    view = DynamoRosterView(store)
    # The district-wide store reads do not depend on the fetch, so they run while it runs (issue
    # 10); not when the R2 reset below is to rewrite the district's items first.
    ahead: AbstractContextManager[None] = nullcontext()
    if (request.dry_run or district.reset_done) and request.mode != "delta":  # R18: a delta reads by key
        ahead = view.read_ahead(district.district_id)
    started = time.perf_counter()
    with ahead:
        fetched = fetch(district, store)
    if isinstance(fetched, Fetched):
        snapshot, confirm = fetched.snapshot, fetched.confirm_absent
    else:  # a bare snapshot: no proof of absence (see ``Fetcher``)
        snapshot, confirm = fetched, None
    del fetched
    timings["fetch_s"] = round(time.perf_counter() - started, 3)
    report.fetch_complete = snapshot.complete
    report.incomplete_reasons = [redact_userinfo(r) for r in snapshot.incomplete_reasons]
    if request.mode == "delta":  # R18: read through its filter, never complete for removal (R9)
        delta.note_fetch(report, extra, snapshot)
    if not request.dry_run:
        tracker.update(stage="planning", **continuation.fetch_progress(snapshot))

    if not request.dry_run and not district.reset_done:
        # R2: before the first sync the district's existing data is reset (archived and
        # deactivated, nothing destroyed); the plan below then relinks what matches (R6).
        reset = reset_district(district.district_id, store)
        extra["reset"] = reset.__dict__ if hasattr(reset, "__dict__") else str(reset)
        logger.info("R2 reset before the first sync", extra={"reset": extra["reset"]})

    started = time.perf_counter()
    if request.mode == "delta":  # R18: only the items around the delta's records, when it can
        holdings = delta.gather_holdings(view, district, snapshot, store, extra, today=request.date)
    else:
        holdings = gather(view, district.district_id, snapshot)
    timings["read_store_s"] = round(time.perf_counter() - started, 3)
    extra["store_reads"] = view.stats.__dict__ if hasattr(view, "stats") else {}

    # R9: absence from a complete fetch can be fooled (a record deleted from a page already read
    # while another is inserted further down keeps every count right), so held records the fetch
    # did not list are looked up before the planner may remove them.
    started = time.perf_counter()
    report.absence_checks = extra["absence_checks"] = prove_absence(snapshot, holdings, confirm, view)
    timings["absence_s"] = round(time.perf_counter() - started, 3)

    started = time.perf_counter()
    # R18: a delta is planned over what we hold, every removal deferred to the next full sync
    plan = (delta.plan_changes if request.mode == "delta" else calendar_planner(request, district))(  # R16
        snapshot,
        holdings,
        district.to_settings(),
        today=request.date,
        waive_guard=request.trigger == "approve",
    )
    timings["plan_s"] = round(time.perf_counter() - started, 3)
    # S7: the changes per school (an enrolment's school is its class's, from the store if unchanged).
    extra["counts_by_school"] = counts_by_school(
        plan, {c.class_id: c.school_id for c in holdings.classes if c.school_id}
    )
    if not request.dry_run and not (plan.guard.tripped and not plan.guard.waived) and not plan.is_empty():
        # R17: the before-state of every record the plan changes, journaled before anything is written.
        extra["journal"] = write_run_journal(plan, holdings, report.run_id, request.approve_run_id, store)
    del snapshot, holdings  # the plan references what it needs; free the rest before apply
    report.counts = plan.counts
    report.issues = list(plan.issues)
    report.recommended_for_removal = list(plan.recommended_for_removal)
    report.held_totals = plan.totals_after()
    report.deferred = list(plan.deferred)
    if plan.guard.tripped and not plan.guard.waived:
        report.guard_reasons = list(plan.guard.reasons)

    if request.dry_run:
        report.status = DRY_RUN  # R12: everything planned, nothing written
        return plan
    if report.guard_reasons:
        report.status = HELD  # R10: the whole run writes no roster data
        return plan

    stop_at = None if deadline is None else deadline - RECORD_MARGIN_SECONDS
    # R5 orphan reservations are released after a complete fetch only: never by a delta (R18)
    find_orphans = view.orphan_reservations if request.mode == "full" and _orphan_scan_due(report, store) else None
    state = None
    if delivery is not None and continuation.can_continue(delivery, store) and not plan.is_empty():
        # R20: inside a queue delivery the plan is kept before anything is written, and the
        # checkpoint after every chunk, so that a hand-off, or this message delivered again after
        # a crash, continues the same run without fetching or planning again.
        state = _continuation_state(request, district, report, extra, find_orphans is not None)
        continuation.keep_plan(plan, state, tracker, store)
    tracker.update(stage="applying", planned=plan.roster_writes_planned(), written=0, chunks_done=0)
    started = time.perf_counter()
    result = apply_plan(
        plan,
        store,
        on_checkpoint=tracker.on_checkpoint,
        deadline=stop_at,
        find_orphans=find_orphans,
        chunk_size=APPLY_CHUNK_SIZE,
        digest=state.plan_digest if state is not None else None,  # R20: computed once, when kept
    )
    timings["apply_s"] = round(time.perf_counter() - started, 3)
    report.roster_writes = result.total_roster_writes
    report.issues.extend(result.issues)  # R5 conflicts found at write time
    extra["apply"] = {
        "roster_writes": result.roster_writes,
        "skipped": result.skipped,
        "throttled_retries": result.throttled_retries,
        "unprocessed_retries": result.unprocessed_retries,
        "released_orphans": result.released_orphans,  # R5: reservations left without their account
    }
    if not result.complete:
        if state is not None and delivery is not None:
            _hand_off(request, store, report, result, tracker, state, delivery)
        done = len(result.checkpoint.done)
        raise TimeoutError(
            f"apply reached the time budget after {done} of {result.chunks_total} chunks; "
            "the next run re-plans and writes only what is still missing"
        )
    conclude(
        report,
        first_sync=not district.first_sync_done,
        store=store,
        paused=district.paused_since is not None,
        day=request.date,
    )
    return plan


def _continuation_state(
    request: SyncRequest,
    district: district_store.District,
    report: RunReport,
    extra: dict[str, Any],
    find_orphans: bool,
) -> continuation.HopState:
    """R20: what a continuation of this run needs besides the plan (``continuation.HopState``)."""
    return continuation.HopState(
        district_id=district.district_id,
        run_id=report.run_id,
        hop=0,
        request=request.model_dump(exclude_none=True),
        plan_key=continuation.plan_key(district.district_id, report.run_id),
        chunk_size=APPLY_CHUNK_SIZE,
        checkpoint={},
        report=continuation.report_state(report),
        extra=dict(extra),
        find_orphans=find_orphans,
        first_sync=not district.first_sync_done,
    )


def _hand_off(
    request: SyncRequest,
    store: Store,
    report: RunReport,
    result: ApplyResult,
    tracker: continuation.Tracker,
    state: continuation.HopState,
    delivery: continuation.Delivery,
) -> None:
    """R20: hop 0 reached its time budget: its checkpoint is saved and the run continues in a
    follow-up message (raises ``continuation.HandedOff``)."""
    state.checkpoint = result.checkpoint.to_dict()
    state.report = continuation.report_state(report)
    state.totals = continuation.add_totals({}, result)
    try:
        pointer = continuation.hand_off(request, state, tracker, delivery, store, started=report.started_at)
    except continuation.Superseded:
        raise
    except Exception as exc:
        if delivery.last_receive:
            raise
        # The plan and the checkpoint are saved: the message comes back to this run.
        raise continuation.ContinuationRetry(
            f"R20: could not hand run {report.run_id} to a follow-up ({type(exc).__name__}: {exc}); "
            "SQS delivers the message again"
        ) from exc
    raise continuation.HandedOff(pointer)


def write_run_journal(
    plan: Plan, holdings: Holdings, run_id: str, approves: str | None, store: Store
) -> dict[str, Any]:
    """R17: journal the before-state of every record ``plan`` changes (``store.journal``), so the
    run can be undone (``sync.undo``); ``approves``: the held run an approval applies (R10)."""
    from classlink_sync.rules.journal import journal_entries
    from classlink_sync.store.journal import write_journal

    return write_journal(plan.district_id, run_id, journal_entries(plan, holdings), store, approves=approves)


def conclude(report: RunReport, *, first_sync: bool, store: Store, paused: bool = True, day: str | None = None) -> None:
    """The status of a run whose apply completed: failed after an incomplete fetch (R9: what was
    read was applied, nothing removed), otherwise succeeded (and the district's first sync done).
    R16: a full sync that succeeded deferring nothing ends the district's pause count
    (``paused_since``; ``paused=False``: it has none, nothing to write) if ``day`` (its date) is after
    the latest paused slot."""
    if not report.fetch_complete:
        report.status = FAILED
        report.error = (
            "ClassLink's data could not be read completely, so nothing was removed (R9); "
            "what was read was applied. " + "; ".join(report.incomplete_reasons)
        )
        return
    if first_sync:
        district_store.mark_first_sync(report.district_id, store)
    if paused and report.mode == "full" and not report.deferred:
        district_store.clear_paused_since(report.district_id, store, after=day)  # R16
    report.status = SUCCEEDED


def held_absent(snapshot: RosterSnapshot, holdings: Holdings) -> dict[str, set[str]]:
    """R9: per collection, the sourcedIds we hold and have not removed (accounts still active,
    classes, enrolments and schools not archived) that the snapshot does not list. An id the
    client rejected (R4: unusable, or repeated) was listed: it is present-but-unusable, not absent."""
    rejected: dict[str, set[str]] = defaultdict(set)
    for rejection in snapshot.rejected:
        if rejection.sourced_id is not None:
            rejected[rejection.collection].add(rejection.sourced_id)
    held: dict[str, Iterable[str]] = {
        "orgs": (s.sourced_id for s in holdings.schools if not s.archived),
        "classes": (c.sourced_id for c in holdings.classes if not c.archived),
        "users": (a.sourced_id for a in holdings.accounts if a.sourced_id and a.active),
        "enrollments": (e.sourced_id for e in holdings.enrollments if not e.archived),
    }
    absent: dict[str, set[str]] = {}
    for collection, attribute in ABSENCE_COLLECTIONS:
        listed: dict[str, Any] = getattr(snapshot, attribute)
        skip = rejected.get(collection, set())
        ids = {sid for sid in held[collection] if sid not in listed and sid not in skip}
        if ids:
            absent[collection] = ids
    return absent


def prove_absence(
    snapshot: RosterSnapshot, holdings: Holdings, confirm: AbsenceConfirmer | None, view: RosterView
) -> dict[str, Any]:
    """R9 proven absence, between gathering holdings and planning; returns the run record's
    ``absence_checks`` (what was checked and what it cost).

    Only after a complete fetch (an incomplete one removes nothing anyway). Held records the
    confirmer finds still shared are put back into the snapshot, so the planner sees them present;
    those it cannot vouch for (or all of a collection, if the confirmer fails) go to
    ``snapshot.unconfirmed_absent``, whose removal the planner withholds. Without a confirmer
    (``Fetcher``) nothing is checked and the record says so.
    """
    if not snapshot.complete:
        return {"skipped": "the fetch was incomplete, so nothing is removed anyway (R9)"}
    absent = held_absent(snapshot, holdings)
    if confirm is None:
        return {
            "skipped": "the fetcher gave no confirmer: absence from the complete fetch is trusted as it is",
            "absent": sum(len(ids) for ids in absent.values()),
        }
    summary: dict[str, Any] = {
        "checked": 0,
        "confirmed": 0,
        "found": 0,
        "unconfirmed": 0,
        "requests": 0,
        "rereads": [],
        "collections": {},
    }
    found_users: list[Record] = []
    for collection, attribute in ABSENCE_COLLECTIONS:
        ids = absent.get(collection)
        if not ids:
            continue
        entry: dict[str, Any] = {"checked": len(ids), "requests": 0, "reread": False}
        found: dict[str, Record] = {}
        confirmed: set[str] = set()
        try:
            check = confirm(collection, ids)
        except Exception as exc:  # nothing proven: every absence of the collection stays unconfirmed
            logger.warning("R9 absence check failed", extra={"collection": collection, "error": str(exc)})
            entry["error"] = redact_userinfo(f"{type(exc).__name__}: {exc}")
        else:
            found = {sid: record for sid, record in check.found.items() if sid in ids}
            confirmed = {sid for sid in check.confirmed if sid in ids} - found.keys()
            entry["requests"], entry["reread"] = check.requests, check.reread
            if check.reread_problem:
                entry["reread_problem"] = check.reread_problem
        listed: dict[str, Any] = getattr(snapshot, attribute)
        listed.update(found)  # still shared: the planner sees them present
        if collection == "users":
            found_users.extend(found.values())
        unconfirmed = ids - confirmed - found.keys()  # whatever was not settled is not removed
        if unconfirmed:
            snapshot.unconfirmed_absent.setdefault(collection, set()).update(unconfirmed)
        entry.update(confirmed=len(confirmed), found=len(found), unconfirmed=len(unconfirmed))
        entry["found_ids"] = sorted(found)[:ABSENCE_IDS_IN_RECORD]
        entry["unconfirmed_ids"] = sorted(unconfirmed)[:ABSENCE_IDS_IN_RECORD]
        summary["collections"][collection] = entry
        for key in ("checked", "confirmed", "found", "unconfirmed", "requests"):
            summary[key] += entry[key]
        if entry["reread"]:
            summary["rereads"].append(collection)
    if summary["checked"]:
        logger.info("R9 absence checks", extra={"absence_checks": summary})
    _reserve_found_usernames(found_users, holdings, view)
    return summary


def _reserve_found_usernames(users: list[Any], holdings: Holdings, view: RosterView) -> None:
    """R5: ``gather`` looked reservations up for the snapshot's usernames before the users found
    by the absence check were put back; look theirs up too (one small batch)."""
    own = {a.username_norm for a in holdings.accounts}
    wanted = set()
    for user in users:
        if user.username is None or username_problem(user.username) is not None:
            continue  # R4, as ``gather``: a username beyond the limits is not looked up (it would fail the batch)
        norm = normalise(user.username)
        if norm is not None and norm not in own and norm not in holdings.reservations:
            wanted.add(norm)
    if wanted:
        holdings.reservations.update(view.reservations(wanted))


# Run statuses that wrote no roster data: they say nothing about an interrupted apply.
_NOT_APPLYING = frozenset({DRY_RUN, HELD, "discarded", "paused"})


def _orphan_scan_due(report: RunReport, store: Store) -> bool:
    """R5: look for reservations left without their account after a run that did not finish (the
    last run that applied anything is not ``succeeded``), otherwise once a week (``locks``)."""
    previous = [
        r
        for r in runs.list_runs(report.district_id, store, limit=10)
        if r.run_id != report.run_id and r.status not in _NOT_APPLYING
    ]
    unfinished = not previous or previous[0].status != SUCCEEDED
    return locks.claim_orphan_scan(report.district_id, store, after_unfinished_run=unfinished)


def finish_record(
    report: RunReport, plan: Plan | None, store: Store, extra: dict[str, Any], *, only_if_running: bool = False
) -> None:
    """End the run record: the report to S3, the counts to DynamoDB (``only_if_running``: a
    continued run, R20, ends once; ``runs.RunEnded`` otherwise)."""
    report.ended_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    extra = {
        **extra,
        "dry_run": report.dry_run,
        "timings": report.timings,
        "fetch_complete": report.fetch_complete,
        "incomplete_reasons": report.incomplete_reasons,
        "guard_reasons": report.guard_reasons,
        "recommended_for_removal": report.recommended_for_removal,
        "held_totals": report.held_totals,  # R10's base; a targeted delta's too (R18)
        "deferred": report.deferred,  # R16/R18: removals not made, for the next normal full sync
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
        only_if_running=only_if_running,
        deferred=len(report.deferred),
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
    if report.status == FAILED and report.mode == "delta" and (report.error or "").startswith("DeltaAbandoned"):
        # R18: ClassLink's data changed during the pull: expected now and then, retried by SQS; a
        # delta that keeps being abandoned ends in the DLQ, whose alarm is the one that pages.
        metrics.add_metric(name="DeltaAbandoned", unit=MetricUnit.Count, value=1)
    elif report.status == FAILED:
        metrics.add_metric(name="SyncFailed", unit=MetricUnit.Count, value=1)
    if report.status == HELD:
        metrics.add_metric(name="SyncHeld", unit=MetricUnit.Count, value=1)
    if report.status == runs.PAUSED:  # R16: a paused slot is no failure
        metrics.add_metric(name="SyncPaused", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="RosterWrites", unit=MetricUnit.Count, value=report.roster_writes)
    metrics.add_metric(name="DataQualityIssues", unit=MetricUnit.Count, value=len(report.issues))
