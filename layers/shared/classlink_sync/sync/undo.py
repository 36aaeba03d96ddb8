"""R17: undo a run. The core that ``classlink-sync undo`` and the portal (S6/S7, through the sync
queue: ``SyncRequest(trigger="undo", undo_run_id=...)``) call.

``undo_run(district, run)``:

1. **which run**: a ``succeeded`` run; an ``approved`` run is a held run that wrote nothing (R10),
   so its undo is the undo of the run that approved it (trigger ``approve``, found by its journal's
   ``approves``). A ``failed`` or ``abandoned`` run that has a journal applied part of its plan
   (an incomplete fetch applies what it read, R9; a killed apply stops between chunks): it can be
   undone too, otherwise it would block the undo of every earlier run for good. Refused: an undo
   run (undo runs are not undone: sync again instead), a run already undone (``undone_by``), a
   run that wrote nothing (held, dry run, discarded, paused), a run older than the journal's
   retention (``store.journal.RETENTION_DAYS`` from its start), a run without a journal.
2. **what blocks it**: every later run of the district (started after it; not an undo run, not
   itself undone) whose journal names one of the same records. The undo is refused with their ids,
   newest first: undo those first. An undo run never blocks (it put records back to what an
   undone run found), nor does a later run that changed nothing (it has no journal).
3. **the inverse**: the run's records as they are now (read by key, ``store.journal.held_now``),
   the reservations of the usernames to give back (R5), ``rules.journal.inverse_plan``.
4. **as a run**: under the district's lease (R14), its own run record (trigger ``undo``, mode
   ``undo``, ``undoes`` = the run), the inverse journaled like any run's changes, applied by
   ``store.apply.apply_plan`` (R5 transactions, conditional writes), its report; then the undone
   run's record gets ``undone_by``. A failed undo leaves the run not undone: undoing it again
   writes only what still differs.

``dry_run=True`` plans the inverse and writes nothing (no lease, no run record). The R2 reset
before a district's first sync is not undone: undoing the first sync returns to the reset state.
District emails (R19) are not sent after an undo run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from classlink_sync.errors import ClassLinkSyncError, DistrictBusy
from classlink_sync.redact import redact_userinfo
from classlink_sync.report import DRY_RUN, FAILED, SUCCEEDED, RunReport
from classlink_sync.rules.holdings import Holdings
from classlink_sync.rules.journal import Journal, inverse_plan, names_to_restore
from classlink_sync.rules.plan import Plan
from classlink_sync.store import districts as district_store
from classlink_sync.store import locks, runs
from classlink_sync.store.apply import apply_plan
from classlink_sync.store.context import Store, resolve
from classlink_sync.store.journal import RETENTION_DAYS, JournalMissing, held_now, read_journal
from classlink_sync.store.view import DynamoRosterView

TRIGGER = "undo"
MODE = "undo"
# Statuses of a run that may have written roster data (its journal says what).
UNDOABLE = frozenset({SUCCEEDED, FAILED, runs.ABANDONED})

if TYPE_CHECKING:
    from classlink_sync.sync.messages import SyncRequest
    from classlink_sync.sync.service import SyncOutcome


class UndoRefused(ClassLinkSyncError, ValueError):
    """R17: the run cannot be undone (now); the message says why and names the runs that block."""

    def __init__(self, message: str, blocking: list[str] | None = None) -> None:
        super().__init__(message)
        self.blocking = list(blocking or [])


@dataclass
class UndoOutcome:
    """What ``undo_run`` returns: the undo run's report, its plan, and the run it undid."""

    report: RunReport
    plan: Plan | None
    target: str  # the run undone (the approving run of an approved held run)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.report.status

    @property
    def run_id(self) -> str:
        return self.report.run_id


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _started(record: runs.RunRecord) -> dt.datetime:
    started = dt.datetime.fromisoformat(record.started)
    return started if started.tzinfo else started.replace(tzinfo=dt.UTC)


def _approving_run(district_id: str, held: runs.RunRecord, store: Store) -> runs.RunRecord:
    """R10: the run that approved ``held`` (trigger ``approve``, its journal's ``approves``)."""
    for record in reversed(runs.list_runs_since(district_id, held.started, store)):  # oldest first
        if record.trigger != "approve" or record.started < held.started:
            continue
        try:
            journal = read_journal(district_id, record.run_id, store)
        except JournalMissing:
            continue
        if journal.approves == held.run_id:
            return record
    raise UndoRefused(
        f"R17: run {held.run_id} was approved, but the run that applied it has no journal "
        "(it changed nothing, or its journal expired); nothing to undo"
    )


def resolve_target(
    district_id: str, run_id: str, store: Store | None = None, *, now: dt.datetime | None = None
) -> tuple[runs.RunRecord, Journal]:
    """The run to undo and its journal, or ``UndoRefused`` saying why not (step 1 above)."""
    store = resolve(store)
    record = runs.get_run(district_id, run_id, store)
    if record is None:
        raise UndoRefused(f"district {district_id} has no run {run_id}")
    if record.status == "approved":
        record = _approving_run(district_id, record, store)
    if record.mode == MODE:
        raise UndoRefused(f"R17: run {record.run_id} is an undo run; undo runs are not undone (sync again instead)")
    if record.undone_by:
        raise UndoRefused(f"R17: run {record.run_id} was already undone by run {record.undone_by}")
    if record.status == runs.RUNNING:
        record = _seen(record, store)
        if record.status == runs.RUNNING:
            raise UndoRefused(f"R17: run {record.run_id} is still running; undo it once it has ended")
    if record.status not in UNDOABLE:
        raise UndoRefused(
            f"R17: run {record.run_id} is {record.status}; only a succeeded or approved run can be undone "
            "(a held, dry, discarded or paused run wrote nothing)"
        )
    age = (now or _now()) - _started(record)
    if age > dt.timedelta(days=RETENTION_DAYS):
        raise UndoRefused(
            f"R17: run {record.run_id} started {age.days} days ago; runs are undone for {RETENTION_DAYS} days "
            "(the journal's retention)"
        )
    try:
        journal = read_journal(district_id, record.run_id, store)
    except JournalMissing:
        raise UndoRefused(
            f"R17: run {record.run_id} has no journal: it changed no roster record, or it ran before runs "
            "were journaled; nothing to undo"
        ) from None
    return record, journal


def _seen(record: runs.RunRecord, store: Store) -> runs.RunRecord:
    """A run still recorded ``running`` as ``runs`` shows it: ``abandoned`` once its lease expired
    (killed or crashed, R14; it may have written part of its plan, which its journal names)."""
    import time

    from classlink_sync.sync.service import LEASE_SECONDS

    lease = locks.read_lease(record.district_id, store)
    return runs.seen_status(record, lease, now=time.time(), max_run_seconds=LEASE_SECONDS)


def blocking_runs(district_id: str, target: runs.RunRecord, journal: Journal, store: Store | None = None) -> list[str]:
    """The later runs that changed one of ``journal``'s records and are not undone, newest first."""
    store = resolve(store)
    keys = journal.keys()
    blocking = []
    for record in runs.list_runs_since(district_id, target.started, store):  # newest first, every later run
        if record.run_id == target.run_id or record.started < target.started:
            continue
        if record.mode == MODE or record.undone_by or not _may_have_written(record):
            continue
        try:
            later = read_journal(district_id, record.run_id, store)
        except JournalMissing:  # it changed nothing
            continue
        if not keys.isdisjoint(later.keys()):
            blocking.append(record.run_id)
    return blocking


# Statuses of runs that wrote no roster data (a held run approved later: its approving run wrote).
_WROTE_NOTHING = frozenset({DRY_RUN, "held", "approved", "discarded", runs.PAUSED})


def _may_have_written(record: runs.RunRecord) -> bool:
    """Whether a later run may have changed roster records, from its record alone: most later runs
    (a day of 15-minute deltas that found nothing new) did not, and their journals, which do not
    exist, are not looked for (the portal asks this within one page load). A failed or killed run
    may have written part of its plan whatever its count says."""
    if record.status in _WROTE_NOTHING:
        return False
    return not (record.status == SUCCEEDED and record.roster_writes == 0)


def check_undoable(district_id: str, run_id: str, store: Store | None = None) -> runs.RunRecord:
    """The run ``undo_run`` would undo, or ``UndoRefused`` (steps 1 and 2; reads only). The portal
    asks this before it queues an undo."""
    store = resolve(store)
    target, journal = resolve_target(district_id, run_id, store)
    _refuse_if_blocked(district_id, target, journal, store)
    return target


def _refuse_if_blocked(district_id: str, target: runs.RunRecord, journal: Journal, store: Store) -> None:
    blocking = blocking_runs(district_id, target, journal, store)
    if blocking:
        raise UndoRefused(
            f"R17: run {target.run_id} cannot be undone: later runs changed the same records: "
            f"{', '.join(blocking)}; undo those first (newest first)",
            blocking,
        )


def plan_undo(
    district: district_store.District, journal: Journal, store: Store, *, today: str
) -> tuple[Plan, Holdings]:
    """The inverse of ``journal`` against its records as we hold them now (step 3: read by key,
    ``store.journal.held_now``), and those records."""
    holdings = held_now(journal, store)
    names = names_to_restore(journal, holdings)
    holdings.reservations = dict(DynamoRosterView(store).reservations(names)) if names else {}
    plan, _issues = inverse_plan(journal, holdings, tenant_id=district.tenant_id, today=today)
    return plan, holdings


def _report(district_id: str, run_id: str, target: str, *, dry_run: bool = False) -> RunReport:
    return RunReport(
        district_id=district_id,
        run_id=run_id,
        trigger=TRIGGER,
        started_at=_now().isoformat(timespec="milliseconds"),
        dry_run=dry_run,
        mode=MODE,
        undoes=target,
    )


def undo_run(
    district_id: str,
    run_id: str,
    store: Store | None = None,
    *,
    dry_run: bool = False,
    deadline: float | None = None,
    today: str | None = None,
) -> UndoOutcome:
    """Undo run ``run_id`` of ``district_id`` (R17; see the module doc). Raises ``UndoRefused``
    (nothing written, no run recorded), ``DistrictBusy`` (another run holds the lease, R14) or
    ``DistrictNotFound``. A failure while applying is recorded: the outcome's status is failed."""
    store = resolve(store)
    district = district_store.get_district(district_id, store)
    today = today or _now().date().isoformat()
    target, journal = resolve_target(district_id, run_id, store)
    if dry_run:
        _refuse_if_blocked(district_id, target, journal, store)
        report = _report(district_id, "dry-run", target.run_id, dry_run=True)
        plan, _holdings = plan_undo(district, journal, store, today=today)
        _fill(report, plan)
        report.status = DRY_RUN
        return UndoOutcome(report, plan, target.run_id)
    undo_id = runs.new_run_id()
    from classlink_sync.sync.service import take_lease

    if not take_lease(district_id, undo_id, store):
        raise DistrictBusy(f"another run of district {district_id} is running (R14); undo again later")
    try:
        # Under the lease nothing else writes the district: check again, then undo.
        target, journal = resolve_target(district_id, target.run_id, store)
        _refuse_if_blocked(district_id, target, journal, store)
        runs.create_run(district_id, TRIGGER, store, run_id=undo_id, mode=MODE, undoes=target.run_id)
        return _undo_as_run(district, target, journal, undo_id, store, today=today, deadline=deadline)
    finally:
        locks.release_lease(district_id, undo_id, store)


def _fill(report: RunReport, plan: Plan) -> None:
    report.counts = plan.counts
    report.issues = list(plan.issues)


def _undo_as_run(
    district: district_store.District,
    target: runs.RunRecord,
    journal: Journal,
    undo_id: str,
    store: Store,
    *,
    today: str,
    deadline: float | None,
) -> UndoOutcome:
    from classlink_sync.sync.service import (
        APPLY_CHUNK_SIZE,
        LEASE_SECONDS,
        RECORD_MARGIN_SECONDS,
        finish_record,
        write_run_journal,
    )

    def keep_lease(_checkpoint: Any) -> None:
        """R14: the undo holds the district's lease for as long as it writes (a long undo from the
        command line outlives one lease); losing it stops the undo before its next chunk."""
        if not locks.renew_lease(district.district_id, undo_id, LEASE_SECONDS, store):
            raise DistrictBusy(f"R14: undo run {undo_id} lost the lease of district {district.district_id}")

    report = _report(district.district_id, undo_id, target.run_id)
    extra: dict[str, Any] = {"undoes": target.run_id, "undone_records": len(journal)}
    plan: Plan | None = None
    try:
        plan, holdings = plan_undo(district, journal, store, today=today)
        _fill(report, plan)
        if not plan.is_empty():
            extra["journal"] = write_run_journal(plan, holdings, undo_id, None, store)
        del holdings
        stop_at = None if deadline is None else deadline - RECORD_MARGIN_SECONDS  # time left for the record
        result = apply_plan(plan, store, deadline=stop_at, chunk_size=APPLY_CHUNK_SIZE, on_checkpoint=keep_lease)
        report.roster_writes = result.total_roster_writes
        report.issues.extend(result.issues)  # R5: a reservation taken between the plan and the write
        extra["apply"] = {"roster_writes": result.roster_writes, "skipped": result.skipped}
        if not result.complete:
            raise TimeoutError(
                f"the undo reached the time budget after {len(result.checkpoint.done)} of {result.chunks_total} "
                "chunks; undo again: it writes only what still differs"
            )
        report.status = SUCCEEDED
    except Exception as exc:  # recorded as a failed undo run; the target stays not undone
        report.status = FAILED
        report.error = redact_userinfo(f"{type(exc).__name__}: {exc}")
    finish_record(report, plan, store, extra)
    if report.status == SUCCEEDED:
        runs.mark_undone(district.district_id, target.run_id, undo_id, store)
    return UndoOutcome(report, plan, target.run_id, extra)


def undo_from_request(
    request: SyncRequest, *, store: Store | None = None, deadline: float | None = None, raise_on_failure: bool = True
) -> SyncOutcome:
    """R17 through the sync queue (``SyncRequest(trigger="undo", undo_run_id=...)``, sent by the
    portal): ``undo_run`` as ``sync.service.run_sync`` returns a sync. A refusal (a later run
    touched the same records between the portal's check and this message, say) is recorded as a
    ``failed`` undo run naming why and the runs that block, for the portal's history: retrying
    the message would be refused again, so it is not raised to SQS (no DLQ for a decision)."""
    from classlink_sync.errors import SyncFailed
    from classlink_sync.sync.service import SyncOutcome

    if request.undo_run_id is None:
        raise UndoRefused(f"R17: an undo for district {request.district_id} names no run")
    try:
        outcome = undo_run(request.district_id, request.undo_run_id, store, deadline=deadline, today=request.date)
    except UndoRefused as refused:
        report = _refused_run(request.district_id, request.undo_run_id, refused, resolve(store))
        return SyncOutcome(report, None, refused=True)
    if outcome.status == FAILED and raise_on_failure:
        raise SyncFailed(outcome.report)
    return SyncOutcome(outcome.report, outcome.plan)


def _refused_run(district_id: str, run_id: str, refused: UndoRefused, store: Store) -> RunReport:
    """A queued undo that was refused, as a finished ``failed`` undo run (nothing written)."""
    record = runs.create_run(district_id, TRIGGER, store, mode=MODE, undoes=run_id)
    error = redact_userinfo(str(refused))
    report = RunReport(
        district_id=district_id,
        run_id=record.run_id,
        trigger=TRIGGER,
        started_at=record.started,
        status=FAILED,
        mode=MODE,
        undoes=run_id,
        error=error,
    )
    runs.finish_run(
        district_id,
        record.run_id,
        FAILED,
        store,
        counts={},
        issues=[],
        roster_writes=0,
        error=error,
        extra={"blocking": refused.blocking},
    )
    return report
