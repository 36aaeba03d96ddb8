"""Run records (SPEC §3): the DynamoDB item keeps the counts, the issue count and pointers; the full
report JSON (``{run, counts, issues, plan}``) and, for a run held for review (R10), the serialised
plan go to the report bucket."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import UpdateError

from classlink_sync.redact import redact_userinfo
from classlink_sync.rules.plan import Issue, Plan
from classlink_sync.store.context import Store, resolve
from classlink_sync.store.reports import get_json, put_json

STATUSES = ("running", "succeeded", "held", "failed", "dry_run", "discarded", "approved", "abandoned", "paused")
RUNNING = "running"
# A run that stopped without finishing (killed, crashed, timed out): its lease expired (R14).
ABANDONED = "abandoned"
FINAL_STATUSES = frozenset(STATUSES) - {"running"}
TRIGGERS = ("schedule", "manual", "approve", "dry_run", "undo")
# What a run reads and does: a full sync, a delta sync (R18: changes only, never removes), an undo (R17).
MODES = ("full", "delta", "undo")
PAUSED = "paused"  # R16: the district's slot fell in a pause or blackout; nothing fetched or written

if TYPE_CHECKING:
    from pynamodb.expressions.update import Action

    from classlink_sync.store.locks import Lease


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
    review: dict[str, Any] | None = None  # R10/S7: {"action", "by", "at"} of a held run's review
    # R20: how far the run has got (records fetched, planned, written, chunks, invocations); kept
    # up to date while it runs (``save_progress``), its last value stays when it ends.
    progress: dict[str, Any] | None = None
    mode: str = "full"  # full | delta (R18) | undo (R17)
    deferred: int = 0  # R16/R18: removals deferred to the next normal full sync
    undoes: str | None = None  # R17: the run this undo run undoes
    undone_by: str | None = None  # R17: the undo run that undid this run
    reason: str | None = None  # R16: why the run is paused

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
        district_id=item.district_id,
        run_id=item.run_id,
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
        review=item.review,
        mode=item.mode or "full",
        deferred=int(item.deferred or 0),
        undoes=item.undoes,
        undone_by=item.undone_by,
        reason=item.reason,
    )


def create_run(
    district_id: str,
    trigger: str,
    store: Store | None = None,
    *,
    run_id: str | None = None,
    mode: str = "full",
    undoes: str | None = None,
) -> RunRecord:
    """Record the start of a run (status ``running``); the run id must be new for the district."""
    store = resolve(store)
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}; expected one of {TRIGGERS}")
    if mode not in MODES:
        raise ValueError(f"unknown run mode {mode!r}; expected one of {MODES}")
    Run = store.models.Run
    item = Run(
        district_id=district_id,
        run_id=run_id or new_run_id(),
        started=_now(),
        trigger=trigger,
        status="running",
        mode=None if mode == "full" else mode,
        undoes=undoes,
    )
    item.save(condition=Run.run_id.does_not_exist())
    return _record(item)


class RunEnded(LookupError):
    """R20: a run a continued sync meant to finish is no longer ``running`` (another invocation
    finished it, or a later sync marked it abandoned): nothing was written."""


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
    only_if_running: bool = False,
    deferred: int | None = None,
) -> RunRecord:
    """Finish a run: write the full report (and, if held, the plan) to S3, then the record's
    counts, issue count and pointers (SPEC §3, R10, R12). The record is updated, not replaced, so
    its ``progress`` (R20) stays. ``only_if_running`` (a continued sync, R20): finish it only if it
    is still ``running``, in one conditional update; otherwise raise ``RunEnded``."""
    from classlink_sync.store.dynamo import error_code

    store = resolve(store)
    if status not in FINAL_STATUSES:
        raise ValueError(f"unknown run status {status!r}; expected one of {sorted(FINAL_STATUSES)}")
    Run = store.models.Run
    item = Run.get(district_id, run_id, consistent_read=True)
    if only_if_running and item.status != RUNNING:
        raise RunEnded(f"run {run_id} of district {district_id} is already {item.status}")
    error = None if error is None else redact_userinfo(error)  # a URL's user:password@ never stored
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
            "mode": item.mode or "full",
            "deferred": deferred or 0,
            "undoes": item.undoes,
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
    actions: list[Action] = [
        Run.status.set(status),
        Run.ended.set(ended),
        Run.counts.set(counts),
        Run.issue_count.set(len(issues)),
    ]
    if deferred:  # R16/R18
        item.deferred = deferred
        actions.append(Run.deferred.set(deferred))
    for name in ("report_key", "plan_key", "error"):
        attribute, value = getattr(Run, name), getattr(item, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    actions.append(Run.roster_writes.remove() if roster_writes is None else Run.roster_writes.set(roster_writes))
    condition = (Run.status == RUNNING) if only_if_running else Run.run_id.exists()
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if only_if_running and error_code(exc) == "ConditionalCheckFailedException":
            raise RunEnded(f"run {run_id} of district {district_id} ended meanwhile") from exc
        raise
    return replace(_record(item), progress=read_progress(district_id, run_id, store))


def record_paused(
    district_id: str, date: str, reason: str, store: Store | None = None, *, trigger: str = "schedule"
) -> RunRecord:
    """R16: record a slot that fell in a pause or blackout as a finished run, status ``paused``
    with its reason: nothing was fetched or written. Its report is the run alone (no S3 object)."""
    store = resolve(store)
    Run = store.models.Run
    now = _now()
    item = Run(
        district_id=district_id,
        run_id=new_run_id(),
        started=now,
        ended=now,
        trigger=trigger,
        status=PAUSED,
        counts={},
        issue_count=0,
        roster_writes=0,
        reason=f"{reason} (slot {date})",
    )
    item.save(condition=Run.run_id.does_not_exist())
    return _record(item)


def mark_undone(district_id: str, run_id: str, undo_run_id: str, store: Store | None = None) -> RunRecord | None:
    """R17: record that ``undo_run_id`` undid ``run_id`` (only if no other undo did: conditional).
    None when the run does not exist or was undone already."""
    from classlink_sync.store.dynamo import error_code

    store = resolve(store)
    Run = store.models.Run
    item = Run(district_id=district_id, run_id=run_id)
    try:
        item.update(
            actions=[Run.undone_by.set(undo_run_id)],
            condition=Run.run_id.exists() & Run.undone_by.does_not_exist(),
        )
    except UpdateError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return None
        raise
    return _record(item)


def set_status(district_id: str, run_id: str, status: str, store: Store | None = None) -> RunRecord:
    """Change a finished run's status, e.g. a held run to ``approved`` or ``discarded`` (R10)."""
    store = resolve(store)
    if status not in FINAL_STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    Run = store.models.Run
    item = Run.get(district_id, run_id, consistent_read=True)
    item.update(actions=[Run.status.set(status)], condition=Run.run_id.exists())
    return _record(item)


def review_run(
    district_id: str,
    run_id: str,
    review: dict[str, Any],
    store: Store | None = None,
    *,
    status: str | None = None,
    expect_status: str = "held",
) -> RunRecord | None:
    """Record who reviewed a held run (R10, portal S7: ``{"action", "by", "at"}``) and, if given,
    its new status, in one update conditional on the run still being ``expect_status``. None when
    it is not (or does not exist): nothing was written."""
    from classlink_sync.store.dynamo import error_code

    store = resolve(store)
    if status is not None and status not in FINAL_STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    Run = store.models.Run
    item = Run(district_id=district_id, run_id=run_id)
    actions: list[Action] = [Run.review.set(review)]
    if status is not None:
        actions.append(Run.status.set(status))
    try:
        item.update(actions=actions, condition=Run.run_id.exists() & (Run.status == expect_status))
    except UpdateError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return None
        raise
    return _record(item)


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


def abandoned_by_lease(lease_expired_at: float | None) -> str:
    """The error of a run whose lease expired while it was still running (R14)."""
    when = "an unknown time" if lease_expired_at is None else _iso(lease_expired_at)
    return f"abandoned: the run stopped without finishing (killed or crashed); its lease expired at {when} (R14)"


def mark_abandoned(
    district_id: str, run_id: str, *, lease_expired_at: float | None, store: Store | None = None
) -> bool:
    """Mark a run ``abandoned`` whose expired lease another holder took over, only if its record
    still says ``running`` (a conditional update: a run that finished meanwhile keeps its status).
    True if it was marked; False if it is not running (or not a run: a reset holds leases too)."""
    from classlink_sync.store.dynamo import error_code

    store = resolve(store)
    Run = store.models.Run
    item = Run(district_id=district_id, run_id=run_id)
    actions: list[Action] = [
        Run.status.set(ABANDONED),
        Run.ended.set(_now()),
        Run.error.set(abandoned_by_lease(lease_expired_at)),
    ]
    try:
        item.update(actions=actions, condition=Run.status == RUNNING)
    except UpdateError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def seen_status(record: RunRecord, lease: Lease | None, *, now: float, max_run_seconds: float) -> RunRecord:
    """The run as ``runs`` shows it: a record still ``running`` is ``abandoned`` when the lease it
    holds has expired, or when it started longer ago than any sync may run (``max_run_seconds``,
    the lease's length: a dry run holds no lease, a real run whose lease was taken over is marked
    by the run that took it). Pure; nothing is written."""
    if record.status != RUNNING:
        return record
    if lease is not None and lease.holder == record.run_id:
        if not lease.expired(now):
            return record
        return replace(record, status=ABANDONED, error=abandoned_by_lease(lease.expires))
    try:
        started = dt.datetime.fromisoformat(record.started).timestamp()
    except ValueError:
        return record
    if now - started <= max_run_seconds:
        return record
    return replace(
        record,
        status=ABANDONED,
        error=(
            f"abandoned: still running {int(now - started)} s after it started, longer than any sync runs "
            f"({int(max_run_seconds)} s); it was killed or crashed (R14)"
        ),
    )


def list_runs_seen(
    district_id: str,
    store: Store | None = None,
    *,
    limit: int = 50,
    max_run_seconds: float,
    clock: Callable[[], float] = time.time,
) -> list[RunRecord]:
    """``list_runs`` with a killed run shown as ``abandoned`` (``seen_status``) before the next
    sync marks it so."""
    from classlink_sync.store import locks

    store = resolve(store)
    records = list_runs(district_id, store, limit=limit)
    if not any(r.status == RUNNING for r in records):
        return records
    lease = locks.read_lease(district_id, store)
    now = clock()
    return [seen_status(r, lease, now=now, max_run_seconds=max_run_seconds) for r in records]


def get_run(district_id: str, run_id: str, store: Store | None = None) -> RunRecord | None:
    store = resolve(store)
    try:
        record = _record(store.models.Run.get(district_id, run_id, consistent_read=True))
    except store.models.Run.DoesNotExist:
        return None
    return replace(record, progress=read_progress(district_id, run_id, store))


def list_runs(district_id: str, store: Store | None = None, *, limit: int = 50) -> list[RunRecord]:
    """The district's runs, newest first (the ``by_start`` index)."""
    store = resolve(store)
    Run = store.models.Run
    keys = [(i.district_id, i.run_id) for i in Run.by_start.query(district_id, scan_index_forward=False, limit=limit)]
    if not keys:
        return []
    found = {(i.district_id, i.run_id): i for i in Run.batch_get(keys)}
    records = [_record(found[k]) for k in keys if k in found]
    progress = _progress_of(district_id, [k[1] for k in keys], store)  # R20: one more small request
    return [replace(r, progress=progress.get(r.run_id)) for r in records]


def last_run(
    district_id: str, matching: Callable[[RunRecord], bool], store: Store | None = None, *, within: int = 100
) -> RunRecord | None:
    """The district's newest run that ``matching`` accepts among its last ``within``, or None. The
    last ten are read first (the one sought nearly always is among them), then the rest."""
    first = list_runs(district_id, store, limit=min(10, within))
    found = next((run for run in first if matching(run)), None)
    if found is not None or len(first) < 10 or within <= 10:
        return found
    return next((run for run in list_runs(district_id, store, limit=within)[len(first) :] if matching(run)), None)


def list_runs_since(district_id: str, started: str, store: Store | None = None) -> list[RunRecord]:
    """Every run of the district that started at or after ``started`` (ISO), newest first: all pages
    of the ``by_start`` index, however many (R17: an undo checks every later run, and a district
    with delta syncs every 15 minutes makes about a hundred runs a day)."""
    store = resolve(store)
    Run = store.models.Run
    query = Run.by_start.query(district_id, Run.started >= started, scan_index_forward=False)
    keys = [(i.district_id, i.run_id) for i in query]
    if not keys:
        return []
    found = {(i.district_id, i.run_id): i for i in Run.batch_get(keys)}
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


# --- R20: progress and the invocation that owns a continued run --------------------------------
#
# A run continued over several invocations (``sync.continuation``) keeps, on its record, beside the
# attributes of ``RunItem``: ``progress`` (a map: stage, records fetched, planned, written, chunks,
# hop), ``hop`` (the number of the invocation that owns the run now: 0 for the first), ``hop_owner``
# (that invocation's SQS message id) and ``state_key`` (its latest checkpoint in the report bucket).
# They are written with low-level UpdateItem calls on the store's connection (the model does not
# declare them, and ``finish_run`` updates rather than replaces the item, so they stay), never
# through ``store.calls``: they are bookkeeping, not roster writes, and a test's interceptor of
# roster writes does not see them.

PROGRESS = "progress"
_HOP, _OWNER, _STATE = "hop", "hop_owner", "state_key"


@dataclass(frozen=True)
class RunHop:
    """Who owns a continued run now, and where its checkpoint is (R20)."""

    status: str
    started: str
    hop: int | None
    owner: str | None
    state_key: str | None
    progress: dict[str, Any] | None


def _key(district_id: str, run_id: str) -> dict[str, Any]:
    return {"pk": {"S": district_id}, "sk": {"S": run_id}}


def _dispatch(store: Store, op: str, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """One low-level request on the store's connection; None when its condition failed."""
    from classlink_sync.store.dynamo import error_code

    try:
        result: dict[str, Any] = store.calls.connection.dispatch(op, kwargs)
    except Exception as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return None
        raise
    return result


def _plain(value: Any) -> Any:
    """A deserialised DynamoDB value with integral numbers as ``int`` (others as ``float``)."""
    from decimal import Decimal

    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def read_hop(district_id: str, run_id: str, store: Store | None = None) -> RunHop | None:
    """The run's status, owner, checkpoint pointer and progress (a consistent read); None if no such run."""
    from boto3.dynamodb.types import TypeDeserializer

    store = resolve(store)
    response = _dispatch(
        store,
        "GetItem",
        {
            "TableName": store.settings.runs_table,
            "Key": _key(district_id, run_id),
            "ConsistentRead": True,
            "ProjectionExpression": "#st, #started, #hop, #owner, #state, #progress",
            "ExpressionAttributeNames": {
                "#st": "status",
                "#started": "started",
                "#hop": _HOP,
                "#owner": _OWNER,
                "#state": _STATE,
                "#progress": PROGRESS,
            },
        },
    )
    raw = (response or {}).get("Item")
    if not raw:
        return None
    load = TypeDeserializer().deserialize
    item = {name: _plain(load(value)) for name, value in raw.items()}
    return RunHop(
        status=str(item.get("status", "")),
        started=str(item.get("started", "")),
        hop=None if item.get(_HOP) is None else int(item[_HOP]),
        owner=item.get(_OWNER),
        state_key=item.get(_STATE),
        progress=item.get(PROGRESS),
    )


def _progress_of(district_id: str, run_ids: list[str], store: Store) -> dict[str, dict[str, Any]]:
    """The ``progress`` of each of these runs that has one (BatchGetItem, 100 keys a request)."""
    from boto3.dynamodb.types import TypeDeserializer

    load = TypeDeserializer().deserialize
    table = store.settings.runs_table
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(run_ids), 100):
        request: dict[str, Any] = {
            table: {
                "Keys": [_key(district_id, run_id) for run_id in run_ids[start : start + 100]],
                "ProjectionExpression": "sk, #progress",
                "ExpressionAttributeNames": {"#progress": PROGRESS},
            }
        }
        while request:
            response = _dispatch(store, "BatchGetItem", {"RequestItems": request}) or {}
            for item in response.get("Responses", {}).get(table, []):
                if PROGRESS in item:
                    out[item["sk"]["S"]] = _plain(load(item[PROGRESS]))
            request = response.get("UnprocessedKeys") or {}
    return out


def read_progress(district_id: str, run_id: str, store: Store | None = None) -> dict[str, Any] | None:
    """The run's ``progress`` map (R20), None if it has none."""
    hop = read_hop(district_id, run_id, store)
    return None if hop is None else hop.progress


def claim_hop(district_id: str, run_id: str, hop: int, owner: str, store: Store | None = None) -> bool:
    """Make invocation ``hop`` (SQS message ``owner``) the owner of a running run (R20), in one
    conditional update: the run is ``running`` and its owner is the previous hop (``hop - 1``; for
    hop 0 the run has no owner yet), or already this very message (a redelivery of it). False
    when another message owns it (a duplicate follow-up, or a redelivered message whose follow-up
    already took over): that message must do nothing."""
    store = resolve(store)
    names = {"#st": "status", "#hop": _HOP, "#owner": _OWNER}
    values: dict[str, Any] = {":running": {"S": RUNNING}, ":hop": {"N": str(hop)}, ":owner": {"S": owner}}
    mine = "(#hop = :hop AND #owner = :owner)"
    if hop == 0:
        before = "attribute_not_exists(#hop)"
    else:
        before = "#hop = :previous"
        values[":previous"] = {"N": str(hop - 1)}
    response = _dispatch(
        store,
        "UpdateItem",
        {
            "TableName": store.settings.runs_table,
            "Key": _key(district_id, run_id),
            "UpdateExpression": "SET #hop = :hop, #owner = :owner",
            "ConditionExpression": f"#st = :running AND ({before} OR {mine})",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        },
    )
    return response is not None


def save_progress(
    district_id: str,
    run_id: str,
    progress: dict[str, Any],
    store: Store | None = None,
    *,
    owner: str | None = None,
    hop: int | None = None,
    state_key: str | None = None,
) -> bool:
    """Write the run's ``progress`` (R20) and, given, the pointer to its latest checkpoint, only
    while the run is ``running`` and (given ``owner`` and ``hop``) still owned by that invocation.
    False when not: the run ended, or another invocation took it over (the caller stops)."""
    from boto3.dynamodb.types import TypeSerializer

    store = resolve(store)
    names = {"#st": "status", "#progress": PROGRESS}
    values: dict[str, Any] = {
        ":running": {"S": RUNNING},
        ":progress": TypeSerializer().serialize(_storable(progress)),
    }
    update = "SET #progress = :progress"
    condition = "#st = :running"
    if state_key is not None:
        names["#state"] = _STATE
        values[":state"] = {"S": state_key}
        update += ", #state = :state"
    if owner is not None and hop is not None:
        names.update({"#hop": _HOP, "#owner": _OWNER})
        values.update({":hop": {"N": str(hop)}, ":owner": {"S": owner}})
        condition += " AND #hop = :hop AND #owner = :owner"
    response = _dispatch(
        store,
        "UpdateItem",
        {
            "TableName": store.settings.runs_table,
            "Key": _key(district_id, run_id),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        },
    )
    return response is not None


def _storable(value: Any) -> Any:
    """Progress as DynamoDB's serialiser takes it: no floats (rounded to whole numbers)."""
    if isinstance(value, dict):
        return {str(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    if isinstance(value, float):
        return round(value)
    return value
