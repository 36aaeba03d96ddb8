"""R20: a sync that reaches its time budget continues in follow-up SQS messages to the same function.

Why SQS follow-ups and not Step Functions: docs/continuation.md. The shape:

* **Hop 0** is the sync message the dispatcher (or staff) sent: ``service.run_sync`` takes the
  district's lease, creates the run record, fetches, plans and applies in chunks
  (``store.apply``), writing the run record's ``progress`` after every chunk. Inside a queue
  delivery it keeps the plan in the report bucket before its first write (``keep_plan``) and a
  checkpoint document after every chunk. If apply stops at the time budget (the Lambda's
  remaining time less a margin), ``hand_off`` keeps the lease, marks the record ``continuing``
  and sends a follow-up message: the same request with ``continuation`` = a ``Pointer`` (run id,
  hop number, the checkpoint's key, the run's start). The run record stays ``running``.
* **Hop n** (``continue_sync``): takes the lease again by run id, becomes the run's owner
  (``runs.claim_hop``: a conditional update, so that of two copies of a follow-up only one
  works), loads the plan and the checkpoint, and applies the remaining chunks, saving a new
  checkpoint after each. It never fetches or plans. Stopped again, it hands off to hop n+1; done,
  it finishes the same run record (succeeded, or failed as any run would) and releases the lease.
* At most ``MAX_HOPS`` follow-ups per run: a run that would need more ends ``failed``.

Redelivery and crashes converge. A message delivered twice runs once (the worker's idempotency on
the message id); a duplicate follow-up (its sender crashed after sending) loses the claim and does
nothing; a hop killed between chunks is redelivered by SQS after the visibility timeout and
resumes from its last checkpoint (chunk writes are idempotent, so a chunk cut short is written
again); a hop that raises keeps the run ``running`` and is retried by SQS, and only its last
receive (``MAX_RECEIVES``, the queue's redrive count) ends the run ``failed``. The first message's
run id is derived from the message (``run_id_for``), so a hop 0 killed mid-way is redelivered into
the same run record (``first_hop``): it continues from its kept plan and checkpoint, or, killed
before it kept its plan, fetches and plans again under it, instead of starting a second run.

The worker hands the delivery (message id, receive count) to the service through a context
variable (``delivered``), because the handler's runner seam has ``run_sync``'s shape.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from classlink_sync.errors import ClassLinkSyncError, DistrictBusy, MessageInvalid, SyncFailed
from classlink_sync.redact import redact_userinfo
from classlink_sync.report import FAILED, SUCCEEDED, RunReport
from classlink_sync.rules.plan import Issue, Plan
from classlink_sync.store import locks, plandoc, runs
from classlink_sync.store.apply import ApplyCheckpoint, ApplyResult, apply_plan, plan_digest
from classlink_sync.store.context import Store
from classlink_sync.store.reports import get_json, put_json
from classlink_sync.sync.messages import SyncRequest

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from classlink_sync.sync.service import SyncOutcome

logger = Logger()

# A run continues in at most this many follow-up messages (about 50 x 14 minutes of writing):
# the hop counter in the message bounds the loop that RecursiveLoop: Allow no longer stops.
MAX_HOPS = 50
# template.yaml SyncQueue RedrivePolicy maxReceiveCount (a unit test keeps them equal): the receive
# of a follow-up that fails for good ends its run as failed before SQS moves the message to the DLQ.
MAX_RECEIVES = 3
# While a run continues, its district's lease lasts this long from the last hop's start or hand-off:
# longer than a follow-up waits behind other districts and than the queue's visibility timeout
# (90 minutes, after which SQS redelivers a killed hop), so the run's own redelivery, not another
# sync, takes the district up again. The stuck-sync alarm fires at the same age (SyncInProgressSeconds).
CONTINUATION_LEASE_SECONDS = 2 * 3600
STUCK_SECONDS = 2 * 3600
STATE_VERSION = 1

RUNNING = runs.RUNNING
HOP_METRIC = "SyncContinued"
AGE_METRIC = "SyncInProgressSeconds"


class ContinuationRetry(ClassLinkSyncError, RuntimeError):
    """A continued run's invocation failed before its last receive: the run stays ``running`` at
    its last checkpoint and SQS delivers the message again (the worker logs it as a retry)."""


class Superseded(ClassLinkSyncError, RuntimeError):
    """Another invocation owns the run now (or it ended): this one stops and writes nothing more."""


# -- the delivery: what the worker knows about the SQS message -------------------------------------

FollowUpSender = Callable[[SyncRequest], None]


@dataclass(frozen=True)
class Delivery:
    """One receive of a sync-queue message (the worker builds it from the SQS record)."""

    message_id: str
    receive_count: int = 1
    sent_at: dt.datetime | None = None
    # Sends a follow-up message; None: to the sync queue (``SYNC_QUEUE_URL``). Tests capture them.
    send: FollowUpSender | None = None

    @property
    def last_receive(self) -> bool:
        """SQS moves the message to the DLQ if this receive fails too."""
        return self.receive_count >= MAX_RECEIVES


_delivery: ContextVar[Delivery | None] = ContextVar("classlink_sync_delivery", default=None)


@contextlib.contextmanager
def delivered(delivery: Delivery) -> Iterator[Delivery]:
    """The worker runs a message's sync inside this, so the service knows the message it serves."""
    token = _delivery.set(delivery)
    try:
        yield delivery
    finally:
        _delivery.reset(token)


def current_delivery() -> Delivery | None:
    return _delivery.get()


def can_continue(delivery: Delivery | None, store: Store) -> bool:
    """A run can hand off only inside a queue delivery, with somewhere to send the follow-up."""
    return delivery is not None and (delivery.send is not None or bool(store.settings.sync_queue_url))


def send_follow_up(request: SyncRequest, delivery: Delivery, store: Store) -> None:
    if delivery.send is not None:
        delivery.send(request)
        return
    from classlink_sync import aws

    queue_url = store.settings.require("sync_queue_url")
    aws.client("sqs", store.settings).send_message(QueueUrl=queue_url, MessageBody=request.to_json())


def run_id_for(delivery: Delivery) -> str | None:
    """The run id of the first message's sync, the same on every receive of that message: its
    send time (time-ordered like ``runs.new_run_id``) and a digest of its message id."""
    if delivery.sent_at is None:
        return None
    suffix = hashlib.blake2b(delivery.message_id.encode(), digest_size=3).hexdigest()
    return delivery.sent_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + suffix


# -- the follow-up message's pointer ---------------------------------------------------------------


class Pointer(BaseModel):
    """``SyncRequest.continuation`` of a follow-up: which run, which hop, where its checkpoint is.
    The plan and the checkpoint stay in the report bucket; the message carries only this."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str = Field(min_length=1)
    hop: int = Field(ge=0, le=MAX_HOPS)
    state_key: str = Field(min_length=1)
    started: str = ""  # the run's start (ISO): the worker's SyncInProgressSeconds before the hop runs

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Pointer:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise MessageInvalid(f"the sync message's continuation is not a continuation pointer (R20): {exc}") from exc


def age_seconds(started: str, now: float | None = None) -> float | None:
    try:
        begun = dt.datetime.fromisoformat(started).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, (time.time() if now is None else now) - begun)


# -- the checkpoint document -------------------------------------------------------------------------


def state_key(district_id: str, run_id: str, hop: int) -> str:
    """One checkpoint document per hop: a stale invocation never overwrites its successor's."""
    return f"continuations/{district_id}/{run_id}/hop-{hop:03d}.json"


def plan_key(district_id: str, run_id: str) -> str:
    return f"continuations/{district_id}/{run_id}/plan.json"


@dataclass
class HopState:
    """A continued run's checkpoint (JSON in the report bucket): the request it serves, where the
    plan is, the apply checkpoint (chunks done, blocked accounts and classes, apply issues, writes),
    the run report so far (without the plan's issues: they are in the plan) and the apply totals."""

    district_id: str
    run_id: str
    hop: int
    request: dict[str, Any]
    plan_key: str
    chunk_size: int
    checkpoint: dict[str, Any]
    report: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    totals: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    find_orphans: bool = False
    first_sync: bool = False  # the district's first sync: mark it done when the run succeeds
    plan_digest: str = ""  # store.apply.plan_digest of the kept plan (a follow-up does not recompute it)
    plan_parts: int = 0  # how many enrolment documents beside the plan (store.plandoc)
    version: int = STATE_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HopState:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"continuation checkpoint version {data.get('version')!r} is not {STATE_VERSION}")
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


def report_state(report: RunReport) -> dict[str, Any]:
    """The run report as a checkpoint keeps it: the plan's issues are left out (the plan has them)."""
    data = report.to_dict()
    data.pop("issues", None)
    return data


def add_totals(totals: dict[str, Any], result: ApplyResult) -> dict[str, Any]:
    """The run's apply totals after one more ``apply_plan`` call (writes come from the checkpoint)."""
    out = dict(totals)
    skipped = dict(out.get("skipped") or {})
    for entity, n in result.skipped.items():
        skipped[entity] = skipped.get(entity, 0) + n
    out["skipped"] = skipped
    for name in ("throttled_retries", "unprocessed_retries", "released_orphans"):
        out[name] = int(out.get(name) or 0) + int(getattr(result, name))
    out["orphan_error"] = result.orphan_error or out.get("orphan_error")
    out["roster_writes"] = dict(result.checkpoint.written)
    return out


def apply_summary(totals: dict[str, Any]) -> dict[str, Any]:
    """The run report's ``apply`` section, as a single invocation writes it."""
    return {
        "roster_writes": dict(totals.get("roster_writes") or {}),
        "skipped": dict(totals.get("skipped") or {}),
        "throttled_retries": int(totals.get("throttled_retries") or 0),
        "unprocessed_retries": int(totals.get("unprocessed_retries") or 0),
        "released_orphans": int(totals.get("released_orphans") or 0),
    }


# -- progress (R20) ----------------------------------------------------------------------------------


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def fetch_progress(snapshot: Any) -> dict[str, int]:
    """Records fetched, and of how many (``X-Total-Count``, or what was received where none came)."""
    statuses = list(getattr(snapshot, "collections", {}).values())
    received = sum(int(c.received) for c in statuses)
    total = sum(int(c.total if c.total is not None else c.received) for c in statuses)
    return {"fetched": received, "fetch_total": total}


@dataclass
class HopInfo:
    """What ``between_chunks`` is told after each checkpoint."""

    district_id: str
    run_id: str
    hop: int
    chunks_done: int
    chunks_total: int


def between_chunks(info: HopInfo) -> None:
    """Called after every chunk's checkpoint is durable, before the next chunk: the point where a
    process may be killed (tests replace this to advance a clock or to kill the invocation)."""


@dataclass
class Tracker:
    """Writes the run record's ``progress`` after every checkpoint of a hop and, in a continued hop
    (``state`` set), the checkpoint document first; stops the hop (``Superseded``) when another
    invocation owns the run (``owner``: this invocation's message id)."""

    store: Store
    district_id: str
    run_id: str
    hop: int
    progress: dict[str, Any]
    owner: str | None = None
    state: HopState | None = None  # set: the checkpoint document is saved at every checkpoint
    done_before: int = 0  # chunks done when this hop started
    chunks_this_hop: int = 0

    def update(self, **values: Any) -> None:
        self.progress.update(values, hop=self.hop, invocations=self.hop + 1, updated=_now_iso())
        key = self._save_state()
        saved = runs.save_progress(
            self.district_id,
            self.run_id,
            self.progress,
            self.store,
            owner=self.owner,
            hop=self.hop if self.owner is not None else None,
            state_key=key,
        )
        if not saved and self.owner is not None:
            raise Superseded(f"run {self.run_id} is no longer this invocation's (hop {self.hop}); stopping")

    def _save_state(self) -> str | None:
        if self.state is None:
            return None
        self.state.hop = self.hop
        self.state.progress = dict(self.progress)
        key = state_key(self.district_id, self.run_id, self.hop)
        put_json(self.store.settings, key, self.state.to_dict())
        return key

    def on_checkpoint(self, checkpoint: ApplyCheckpoint) -> None:
        """``apply_plan``'s ``on_checkpoint``: the checkpoint is made durable, then the next chunk runs."""
        done = len(checkpoint.done)
        self.chunks_this_hop = max(0, done - self.done_before)
        if self.state is not None:
            self.state.checkpoint = checkpoint.to_dict()
        self.update(
            stage="applying",
            written=sum(checkpoint.written.values()),
            chunks_done=done,
            chunks_total=checkpoint.chunks_total,
        )
        between_chunks(HopInfo(self.district_id, self.run_id, self.hop, done, checkpoint.chunks_total))


def stop_rule(stop_at: float | None, tracker: Tracker) -> Callable[[], bool] | None:
    """A continued hop's ``should_stop``: its time budget is spent, once it has written at least
    one chunk (so every follow-up makes progress however short its budget). The clock is the one
    ``apply_plan``'s own ``deadline`` reads (``store.apply``'s ``time.monotonic``)."""
    if stop_at is None:
        return None
    from classlink_sync.store import apply as apply_module

    def stop() -> bool:
        return tracker.chunks_this_hop > 0 and apply_module.time.monotonic() >= stop_at

    return stop


# -- hand-off --------------------------------------------------------------------------------------


class HandedOff(Exception):
    """Raised inside the service when hop 0 handed the run to a follow-up message."""

    def __init__(self, pointer: Pointer) -> None:
        super().__init__(f"run {pointer.run_id} continues in hop {pointer.hop}")
        self.pointer = pointer


def keep_plan(plan: Plan, state: HopState, tracker: Tracker, store: Store) -> None:
    """Hop 0, before it writes anything: the plan goes to the report bucket once (``store.plandoc``:
    the enrolments in parts, so that a follow-up holds one part at a time), with its digest, and
    from now on ``tracker`` saves the checkpoint document at every checkpoint (R20)."""
    state.plan_digest = plan_digest(plan)
    state.plan_parts = plandoc.keep_plan(store.settings, state.plan_key, plan, digest=state.plan_digest)
    tracker.state = state


def hand_off(
    request: SyncRequest,
    state: HopState,
    tracker: Tracker,
    delivery: Delivery,
    store: Store,
    *,
    started: str,
) -> Pointer:
    """Save what the next hop needs, keep the lease, and send the follow-up (R20). Raises
    ``Superseded`` when the run is no longer this invocation's."""
    next_hop = tracker.hop + 1
    tracker.state = state
    tracker.update(stage="continuing", next_hop=next_hop)  # the checkpoint document, then the record
    key = state_key(state.district_id, state.run_id, tracker.hop)
    if not locks.renew_lease(state.district_id, state.run_id, CONTINUATION_LEASE_SECONDS, store):
        raise Superseded(f"the lease of district {state.district_id} is no longer run {state.run_id}'s")
    pointer = Pointer(run_id=state.run_id, hop=next_hop, state_key=key, started=started)
    follow_up = request.model_copy(update={"continuation": pointer.model_dump()})
    send_follow_up(follow_up, delivery, store)
    logger.info(
        "R20: time budget reached; the sync continues in a follow-up message",
        extra={"run_id": state.run_id, "next_hop": next_hop, "progress": tracker.progress},
    )
    return pointer


# -- a follow-up's invocation (hop >= 1, or a redelivered hop 0 that had handed off) ----------------


def continue_sync(
    request: SyncRequest,
    *,
    store: Store,
    deadline: float | None,
    delivery: Delivery | None,
    raise_on_failure: bool = True,
    pointer: Pointer | None = None,
) -> SyncOutcome:
    """Apply the remaining chunks of a continued run, then hand off again or finish its record."""
    from classlink_sync.sync import service

    pointer = pointer or Pointer.parse(request.continuation or {})
    district_id, run_id = request.district_id, pointer.run_id
    owner = delivery.message_id if delivery is not None else f"direct-{uuid.uuid4().hex}"
    logger.append_keys(district_id=district_id, run_id=run_id, hop=pointer.hop)
    try:
        current = runs.read_hop(district_id, run_id, store)
        if current is None or current.status != RUNNING:
            logger.warning("R20: follow-up of a run that is not running; nothing to do", extra={"hop": pointer.hop})
            return _ended(district_id, run_id, store)
        if not service.take_lease(district_id, run_id, store, seconds=CONTINUATION_LEASE_SECONDS):
            raise DistrictBusy(f"another sync of district {district_id} holds the lease (R14); retry later")
        if not runs.claim_hop(district_id, run_id, pointer.hop, owner, store):
            logger.warning("R20: another invocation owns this run; this copy does nothing", extra={"hop": pointer.hop})
            return _superseded(district_id, run_id, pointer.hop, current.started)
        current = runs.read_hop(district_id, run_id, store) or current
        return _run_hop(request, pointer, current, owner, store, deadline, delivery, raise_on_failure)
    finally:
        logger.remove_keys(["district_id", "run_id", "hop"])


def _run_hop(
    request: SyncRequest,
    pointer: Pointer,
    current: runs.RunHop,
    owner: str,
    store: Store,
    deadline: float | None,
    delivery: Delivery | None,
    raise_on_failure: bool,
) -> SyncOutcome:
    from classlink_sync.sync import service

    district_id, run_id, hop = request.district_id, pointer.run_id, pointer.hop
    key = current.state_key or pointer.state_key
    try:
        state = HopState.from_dict(get_json(store.settings, key))
        plan, kept_digest = plandoc.load_plan(store.settings, state.plan_key)
    except Exception as exc:
        return _unloadable(request, run_id, hop, current, exc, store, delivery, raise_on_failure)
    # No checkpoint yet: hop 0 kept its plan and was killed before its first chunk ended.
    checkpoint = ApplyCheckpoint.from_dict(state.checkpoint) if state.checkpoint else None
    report = RunReport(**{**state.report, "issues": []})
    report.status = ""
    tracker = Tracker(
        store,
        district_id,
        run_id,
        hop,
        progress=dict(state.progress),
        owner=owner,
        state=state,
        done_before=0 if checkpoint is None else len(checkpoint.done),
    )
    stop_at = None if deadline is None else deadline - service.RECORD_MARGIN_SECONDS
    find_orphans = None
    if state.find_orphans and (checkpoint is None or not (checkpoint.orphans_done or checkpoint.done)):
        from classlink_sync.store.view import DynamoRosterView

        find_orphans = DynamoRosterView(store).orphan_reservations
    begun = time.perf_counter()
    try:
        result = apply_plan(
            plan,
            store,
            checkpoint=checkpoint,
            on_checkpoint=tracker.on_checkpoint,
            should_stop=stop_rule(stop_at, tracker),
            chunk_size=state.chunk_size,
            find_orphans=find_orphans,
            digest=state.plan_digest or kept_digest,
        )
        timings = report.timings
        timings["apply_s"] = round(timings.get("apply_s", 0.0) + time.perf_counter() - begun, 3)
        state.totals = add_totals(state.totals, result)
        state.checkpoint = result.checkpoint.to_dict()
        state.report = report_state(report)
        if not result.complete:
            if delivery is None or not can_continue(delivery, store) or hop + 1 > MAX_HOPS:
                raise TimeoutError(_hop_limit_message(hop, result))
            hand_off(request, state, tracker, delivery, store, started=current.started)
            return _continuing(report, hop, run_id)
    except Superseded as exc:
        logger.warning("R20: stopped, another invocation owns the run", extra={"reason": str(exc)})
        return _superseded(district_id, run_id, hop, current.started)
    except Exception as exc:
        if delivery is not None and not delivery.last_receive and not isinstance(exc, TimeoutError):
            # The run stays where its last checkpoint left it; SQS delivers this message again.
            error = redact_userinfo(f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(Exception):
                tracker.progress["last_error"] = error
                tracker.update(stage="retrying")
            raise ContinuationRetry(
                f"R20: hop {hop} of run {run_id} failed ({error}); SQS retries it from its last checkpoint"
            ) from exc
        logger.exception("R20: continued sync failed")
        report.status = FAILED
        report.error = redact_userinfo(f"{type(exc).__name__}: {exc}")
    return _finish_continued(request, report, plan, state, store, raise_on_failure, hop)


def _unloadable(
    request: SyncRequest,
    run_id: str,
    hop: int,
    current: runs.RunHop,
    exc: Exception,
    store: Store,
    delivery: Delivery | None,
    raise_on_failure: bool,
) -> SyncOutcome:
    """The plan or the checkpoint cannot be read: retried by SQS, and on the last receive the run
    ends ``failed`` (the next sync re-plans and writes what is still missing)."""
    from classlink_sync.sync.service import SyncOutcome

    error = redact_userinfo(f"{type(exc).__name__}: {exc}")
    if delivery is not None and not delivery.last_receive:
        raise ContinuationRetry(f"R20: hop {hop} of run {run_id} cannot load its checkpoint ({error})") from exc
    logger.exception("R20: a continued run's checkpoint cannot be read")
    report = RunReport(
        district_id=request.district_id,
        run_id=run_id,
        trigger=request.trigger,
        started_at=current.started,
        status=FAILED,
        error=f"R20: the run's checkpoint could not be read ({error}); the next sync re-plans what is missing",
    )
    try:
        runs.finish_run(request.district_id, run_id, FAILED, store, error=report.error, only_if_running=True)
    except runs.RunEnded:
        return _ended(request.district_id, run_id, store)
    finally:
        locks.release_lease(request.district_id, run_id, store)
    if raise_on_failure:
        raise SyncFailed(report)
    return SyncOutcome(report, None)


def _hop_limit_message(hop: int, result: ApplyResult) -> str:
    return (
        f"R20: apply reached the time budget at invocation {hop + 1} after {len(result.checkpoint.done)} of "
        f"{result.chunks_total} chunks, and the sync may continue in at most {MAX_HOPS} follow-ups; "
        "the next sync re-plans and writes only what is still missing"
    )


def _finish_continued(
    request: SyncRequest,
    report: RunReport,
    plan: Plan,
    state: HopState,
    store: Store,
    raise_on_failure: bool,
    hop: int,
) -> SyncOutcome:
    """The last hop: the same run record, ended as any run ends (``service.conclude``,
    ``service.finish_record``), once (conditionally on its still running)."""
    from classlink_sync.store import districts as district_store
    from classlink_sync.sync import service

    district_id, run_id = state.district_id, state.run_id
    checkpoint = ApplyCheckpoint.from_dict(state.checkpoint or {"plan_digest": ""})
    report.counts = plan.counts
    report.issues = list(plan.issues) + [Issue(**i) for i in checkpoint.issues]
    report.recommended_for_removal = list(plan.recommended_for_removal)
    report.held_totals = plan.totals_after()
    report.roster_writes = sum(checkpoint.written.values())
    extra = {**state.extra, "apply": apply_summary(state.totals), "continuation": {"invocations": hop + 1}}
    if report.status != FAILED:
        service.conclude(report, first_sync=state.first_sync, store=store, day=state.request.get("date"))
    progress = {**state.progress, "stage": "ended", "hop": hop, "invocations": hop + 1, "updated": _now_iso()}
    progress["written"] = report.roster_writes
    try:
        runs.save_progress(district_id, run_id, progress, store)
        service.finish_record(report, None, store, extra, only_if_running=True)
    except runs.RunEnded:
        logger.warning("R20: the run ended meanwhile; this invocation writes nothing more")
        return _ended(district_id, run_id, store)
    finally:
        locks.release_lease(district_id, run_id, store)
    if report.status == SUCCEEDED and request.trigger == "approve" and request.approve_run_id:
        runs.set_status(district_id, request.approve_run_id, "approved", store)
    district = district_store.get_district(district_id, store)
    service.notify_after_run(report, store, district=district)
    _delete_documents(state, hop, store)
    outcome = service.SyncOutcome(report, plan)
    if report.status == FAILED and raise_on_failure:
        raise SyncFailed(report)
    return outcome


def _delete_documents(state: HopState, hop: int, store: Store) -> None:
    """A finished run's plan and checkpoints are not kept (the report has what matters; R15)."""
    from classlink_sync.store.reports import s3_client

    keys = [state.plan_key] + [state_key(state.district_id, state.run_id, n) for n in range(hop + 1)]
    keys += [plandoc.part_key(state.plan_key, n) for n in range(state.plan_parts)]
    try:
        s3_client(store.settings).delete_objects(
            Bucket=store.settings.report_bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
        )
    except Exception:  # housekeeping: the bucket's lifecycle expires them anyway
        logger.warning("R20: could not delete a finished run's checkpoints", exc_info=True)


# -- outcomes that end no run ------------------------------------------------------------------------


def _continuing(report: RunReport, hop: int, run_id: str) -> SyncOutcome:
    from classlink_sync.sync.service import SyncOutcome

    report.status = RUNNING
    return SyncOutcome(report, None, hop=hop + 1)


def _superseded(district_id: str, run_id: str, hop: int, started: str) -> SyncOutcome:
    from classlink_sync.sync.service import SyncOutcome

    report = RunReport(district_id=district_id, run_id=run_id, trigger="", started_at=started, status=RUNNING)
    return SyncOutcome(report, None, hop=hop, superseded=True)


def _ended(district_id: str, run_id: str, store: Store) -> SyncOutcome:
    """The outcome of a run that already ended: its record as stored (nothing is run again)."""
    from classlink_sync.sync.service import SyncOutcome

    record = runs.get_run(district_id, run_id, store)
    if record is None:
        raise MessageInvalid(f"R20: district {district_id} has no run {run_id} to continue")
    report = RunReport(
        district_id=district_id,
        run_id=run_id,
        trigger=record.trigger,
        started_at=record.started,
        status=record.status,
        ended_at=record.ended,
        counts=record.counts,
        roster_writes=record.roster_writes or 0,
        error=record.error,
    )
    if record.status == RUNNING:  # another invocation has it: this one did nothing
        return SyncOutcome(report, None, superseded=True)
    return SyncOutcome(report, None, ended=True)


# -- hop 0 redelivered -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FirstHop:
    """What a first (non-follow-up) message's delivery does (``first_hop``)."""

    run_id: str
    rerun: runs.RunHop | None = None  # its run is still running, never handed off: sync again under it
    resume: Pointer | None = None  # its run handed off: continue from the checkpoint, as hop 0
    ended: bool = False  # its run already ended well: nothing to do


def first_hop(request: SyncRequest, delivery: Delivery | None, store: Store) -> FirstHop:
    """The run of a first message: a new one, or the one an earlier receive of the same message
    started (killed before it ended: SQS delivered the message again)."""
    if delivery is None or request.dry_run:
        return FirstHop(runs.new_run_id())
    run_id = run_id_for(delivery)
    if run_id is None:
        return FirstHop(runs.new_run_id())
    current = runs.read_hop(request.district_id, run_id, store)
    if current is None:
        return FirstHop(run_id)
    if current.status == RUNNING and current.owner in (None, delivery.message_id):
        if current.hop not in (None, 0):  # a follow-up took over: this copy has nothing to do
            return FirstHop(run_id, ended=True)
        if current.state_key:
            return FirstHop(
                run_id, resume=Pointer(run_id=run_id, hop=0, state_key=current.state_key, started=current.started)
            )
        return FirstHop(run_id, rerun=current)
    if current.status in (FAILED, runs.ABANDONED) or current.status == RUNNING:
        # A failed run is retried as a new run (as before R20); another message's run (a clash of
        # the derived id) is left alone.
        return FirstHop(runs.new_run_id())
    return FirstHop(run_id, ended=True)


def ended_outcome(request: SyncRequest, run_id: str, store: Store) -> SyncOutcome:
    return _ended(request.district_id, run_id, store)


# -- metrics -------------------------------------------------------------------------------------------


def emit_hop_metrics(metrics: Metrics, outcome: SyncOutcome) -> None:
    """A hop that leaves its run in progress: ``SyncContinued`` and the run's age
    (``SyncInProgressSeconds``; template.yaml alarms at 2 hours)."""
    if outcome.superseded:
        return
    metrics.add_metric(name=HOP_METRIC, unit=MetricUnit.Count, value=1)
    emit_age(metrics, outcome.report.started_at)


def emit_age(metrics: Metrics, started: str) -> None:
    age = age_seconds(started)
    if age is not None:
        metrics.add_metric(name=AGE_METRIC, unit=MetricUnit.Seconds, value=round(age))
