"""R20: a sync that reaches its time budget continues in follow-up messages and ends as one run.

The service on in-process moto, ClassLink replaced by a snapshot, the queue by a list: each hop is
``run_sync`` called as the worker calls it (a ``Delivery``: message id, receive count), and its
follow-up message is captured instead of sent. Time is apply's clock (``store.apply.time``),
which each chunk's checkpoint moves on by ``STEP`` seconds: a hop's budget holds a known number
of chunks, on any machine.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time as real_time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from classlink_sync.rules.plan import Plan
from classlink_sync.store import apply as apply_module
from classlink_sync.store import locks, runs
from classlink_sync.store.accounts import export_district
from classlink_sync.store.apply import plan_digest
from classlink_sync.store.dynamo import METER, roster_tables
from classlink_sync.sync import continuation, service
from classlink_sync.sync.continuation import Delivery
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import DistrictBusy, SyncFailed, run_sync

sys.path.insert(0, str(Path(__file__).parent))
import roster
from test_service import fetching, onboard, request

STEP = 10.0  # seconds of apply's clock per chunk
BUDGET = 25.0  # seconds of apply per invocation: at most three chunks
CHUNK = 10
STUDENTS = 60  # 61 accounts and 62 enrolments: 16 chunks of 10


class Killed(BaseException):
    """The process dies here (no handler runs, nothing more is written)."""


@dataclass
class Clock:
    offset: float = 0.0
    hooks: list[Callable[[continuation.HopInfo], None]] = field(default_factory=list)  # after each checkpoint

    def monotonic(self) -> float:
        return real_time.monotonic() + self.offset


@dataclass
class Queue:
    """The sync queue as the hops see it: follow-ups captured, delivered one by one."""

    sent: list[SyncRequest] = field(default_factory=list)
    count: int = 0

    def delivery(self, *, message_id: str | None = None, receives: int = 1) -> Delivery:
        self.count += 1
        return Delivery(
            message_id=message_id or f"m{self.count}",
            receive_count=receives,
            sent_at=dt.datetime(2026, 11, 28, 6, 0, tzinfo=dt.UTC),
            send=self.sent.append,
        )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(apply_module, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    monkeypatch.setattr(service, "APPLY_CHUNK_SIZE", CHUNK)

    def between(info: continuation.HopInfo) -> None:
        clock.offset += STEP
        for hook in clock.hooks:
            hook(info)

    monkeypatch.setattr(continuation, "between_chunks", between)
    return clock


def progress(record: runs.RunRecord | None) -> dict[str, Any]:
    assert record is not None and record.progress is not None
    return record.progress


def budget(clock: Clock) -> float:
    """An invocation's deadline: BUDGET seconds of apply after the run record's margin."""
    return clock.monotonic() + service.RECORD_MARGIN_SECONDS + BUDGET


def hop(req: SyncRequest, store: Any, clock: Clock, queue: Queue, **delivery: Any) -> Any:
    return run_sync(
        req,
        store=store,
        fetch=fetching(roster.snapshot(STUDENTS)),
        deadline=budget(clock),
        delivery=queue.delivery(**delivery),
    )


def drain(store: Any, clock: Clock, queue: Queue) -> list[Any]:
    """Deliver follow-ups until none is left; the outcome of each."""
    outcomes = []
    while queue.sent:
        outcomes.append(hop(queue.sent.pop(0), store, clock, queue))
    return outcomes


def test_R20_a_plan_round_trips_through_json_exactly_so_its_checkpoint_resumes_it(store) -> None:
    onboard(store)
    plan = run_sync(request(dry_run=True), store=store, fetch=fetching(roster.snapshot(12))).plan
    assert plan is not None
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict(), sort_keys=True, default=str)))
    assert plan_digest(again) == plan_digest(plan)


def test_R20_a_sync_past_its_budget_continues_in_follow_ups_and_ends_as_one_run(store, clock) -> None:
    onboard(store)
    queue = Queue()
    first = hop(request(trigger="schedule"), store, clock, queue)
    assert first.status == "running" and first.hop == 1
    (follow_up,) = queue.sent
    pointer = continuation.Pointer.parse(follow_up.continuation or {})
    assert pointer.run_id == first.run_id and pointer.hop == 1
    assert follow_up.model_copy(update={"continuation": None}) == request(trigger="schedule")
    # While it continues: one record, running, with its progress; the lease stays with the run.
    (record,) = runs.list_runs("d1", store)
    assert record.status == "running" and record.progress is not None
    progress = record.progress
    assert progress["fetched"] == progress["fetch_total"] == 1 + 1 + (1 + STUDENTS) + (1 + STUDENTS)
    assert progress["planned"] > 0 and 0 < progress["written"] < progress["planned"]
    assert 0 < progress["chunks_done"] < progress["chunks_total"] == 16 and progress["stage"] == "continuing"
    lease = locks.read_lease("d1", store)
    assert lease is not None and lease.holder == first.run_id
    assert lease.expires is not None and lease.expires > real_time.time() + continuation.CONTINUATION_LEASE_SECONDS - 60
    with pytest.raises(DistrictBusy):  # R14: no second sync of the district meanwhile
        run_sync(request(), store=store, fetch=fetching(roster.snapshot(STUDENTS)))

    outcomes = drain(store, clock, queue)
    assert [o.status for o in outcomes[:-1]] == ["running"] * (len(outcomes) - 1)
    last = outcomes[-1]
    assert last.status == "succeeded" and last.run_id == first.run_id
    assert len(outcomes) + 1 >= 4  # at least four invocations
    (record,) = runs.list_runs("d1", store)
    assert record.status == "succeeded" and record.ended is not None
    assert record.progress is not None and record.progress["stage"] == "ended"
    assert record.progress["invocations"] == len(outcomes) + 1
    assert record.roster_writes == last.report.roster_writes == record.progress["written"]
    assert locks.lease_holder("d1", store) is None
    report = runs.load_report(record, store)
    assert report["continuation"] == {"invocations": len(outcomes) + 1}
    assert report["counts"]["user"]["create"] == 1 + STUDENTS
    exported = export_district("d1", store)
    assert len(exported["accounts"]) == 1 + STUDENTS and len(exported["enrollments"]) == 1 + STUDENTS
    # The saved plan and the checkpoints are not kept once the run ended.
    from classlink_sync.store.reports import s3_client

    left = s3_client(store.settings).list_objects_v2(Bucket=store.settings.report_bucket, Prefix="continuations/")
    assert left.get("KeyCount", 0) == 0


def test_R20_the_continued_run_writes_what_an_unbounded_run_writes(store, clock) -> None:
    onboard(store)
    METER.reset()
    queue = Queue()
    hop(request(), store, clock, queue)
    drain(store, clock, queue)
    continued = METER.writes(roster_tables(store.settings))
    (record,) = runs.list_runs("d1", store)
    assert continued == record.roster_writes  # every item once: no chunk written twice
    # A no-change resync finds nothing left to do.
    again = run_sync(request(), store=store, fetch=fetching(roster.snapshot(STUDENTS)))
    assert again.status == "succeeded" and again.report.roster_writes == 0


def test_R20_a_follow_up_delivered_twice_applies_nothing_twice(store, clock) -> None:
    onboard(store)
    METER.reset()
    queue = Queue()
    hop(request(), store, clock, queue)
    (follow_up,) = queue.sent
    queue.sent.clear()
    assert hop(follow_up, store, clock, queue, message_id="m-f").status == "running"
    before = METER.writes(roster_tables(store.settings))
    # The same follow-up sent twice (its sender died after sending): another message id, no writes.
    duplicate = hop(follow_up, store, clock, queue, message_id="m-dup")
    assert duplicate.superseded and METER.writes(roster_tables(store.settings)) == before
    drain(store, clock, queue)
    # The first follow-up received again after the run ended: nothing runs again.
    again = hop(follow_up, store, clock, queue, message_id="m-f", receives=2)
    assert again.ended and again.status == "succeeded" and queue.sent == []
    (record,) = runs.list_runs("d1", store)
    assert record.status == "succeeded"
    assert METER.writes(roster_tables(store.settings)) == record.roster_writes  # nothing applied twice


def test_R20_a_hop_killed_between_chunks_resumes_from_its_last_checkpoint(store, clock) -> None:
    onboard(store)
    queue = Queue()
    hop(request(), store, clock, queue)
    (follow_up,) = queue.sent
    queue.sent.clear()

    seen: list[int] = []

    def kill(info: continuation.HopInfo) -> None:  # dies after its second chunk's checkpoint
        seen.append(info.chunks_done)
        if len(seen) == 2:
            raise Killed

    clock.hooks.append(kill)
    with pytest.raises(Killed):
        hop(follow_up, store, clock, queue, message_id="m-follow")
    clock.hooks.clear()
    assert queue.sent == []  # it died before handing off
    (record,) = runs.list_runs("d1", store)
    assert record.status == "running" and record.progress is not None
    assert record.progress["chunks_done"] == seen[-1] and record.progress["hop"] == 1
    # SQS delivers the message again after its visibility timeout: the hop resumes after that chunk.
    resumed = hop(follow_up, store, clock, queue, message_id="m-follow", receives=2)
    assert resumed.status == "running"
    assert progress(runs.list_runs("d1", store)[0])["chunks_done"] > seen[-1]
    drain(store, clock, queue)
    (record,) = runs.list_runs("d1", store)
    assert record.status == "succeeded"
    exported = export_district("d1", store)
    assert len(exported["accounts"]) == 1 + STUDENTS and len(exported["enrollments"]) == 1 + STUDENTS
    assert run_sync(request(), store=store, fetch=fetching(roster.snapshot(STUDENTS))).report.roster_writes == 0


def test_R20_a_first_message_killed_between_chunks_goes_on_under_the_same_run(store, clock) -> None:
    onboard(store)
    queue = Queue()

    def kill(info: continuation.HopInfo) -> None:
        if info.chunks_done == 1:
            raise Killed

    clock.hooks.append(kill)
    with pytest.raises(Killed):
        hop(request(), store, clock, queue, message_id="m-first")
    clock.hooks.clear()
    (killed,) = runs.list_runs("d1", store)
    assert killed.status == "running" and killed.progress is not None and killed.progress["chunks_done"] == 1
    # Its plan was kept before the first write: the message, delivered again, continues from chunk 1.
    again = hop(request(), store, clock, queue, message_id="m-first", receives=2)
    assert again.run_id == killed.run_id and again.status == "running"
    drain(store, clock, queue)
    (record,) = runs.list_runs("d1", store)
    assert record.run_id == killed.run_id and record.status == "succeeded"
    assert record.counts["user"]["create"] == 1 + STUDENTS  # the counts of the plan made once
    assert len(export_district("d1", store)["accounts"]) == 1 + STUDENTS


def test_R20_a_first_message_killed_while_fetching_syncs_again_under_the_same_run(store, clock) -> None:
    onboard(store)
    queue = Queue()

    def killed(district: Any, store: Any) -> Any:
        raise Killed

    with pytest.raises(Killed):
        run_sync(request(), store=store, fetch=killed, deadline=budget(clock), delivery=queue.delivery(message_id="m"))
    (killed_run,) = runs.list_runs("d1", store)
    assert killed_run.status == "running" and killed_run.progress is None
    again = hop(request(), store, clock, queue, message_id="m", receives=2)
    assert again.run_id == killed_run.run_id
    drain(store, clock, queue)
    (record,) = runs.list_runs("d1", store)
    assert record.run_id == killed_run.run_id and record.status == "succeeded"
    assert record.counts["user"]["create"] == 1 + STUDENTS  # nothing had been written: the same plan


def test_R20_a_first_message_delivered_again_after_it_handed_off_does_nothing_twice(store, clock) -> None:
    onboard(store)
    queue = Queue()
    first = hop(request(), store, clock, queue, message_id="m-first")
    assert first.status == "running"
    follow_ups = list(queue.sent)
    queue.sent.clear()
    # Its sender died after sending the follow-up: the first message comes back before the follow-up runs.
    again = hop(request(), store, clock, queue, message_id="m-first", receives=2)
    assert again.run_id == first.run_id and again.status == "running"
    queue.sent[:0] = follow_ups  # now two hop-1 follow-ups: only one may work
    outcomes = drain(store, clock, queue)
    assert sum(1 for o in outcomes if o.superseded) == 1
    (record,) = runs.list_runs("d1", store)
    assert record.status == "succeeded"
    assert run_sync(request(), store=store, fetch=fetching(roster.snapshot(STUDENTS))).report.roster_writes == 0


def test_R20_a_failing_hop_keeps_its_run_until_the_last_receive(store, clock, monkeypatch) -> None:
    onboard(store)
    queue = Queue()
    hop(request(), store, clock, queue)
    (follow_up,) = queue.sent
    queue.sent.clear()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("DynamoDB unreachable")

    monkeypatch.setattr(continuation, "apply_plan", broken)
    with pytest.raises(continuation.ContinuationRetry, match="DynamoDB unreachable"):
        hop(follow_up, store, clock, queue, message_id="m-f", receives=1)
    (record,) = runs.list_runs("d1", store)
    assert record.status == "running" and "DynamoDB unreachable" in progress(record)["last_error"]
    assert locks.lease_holder("d1", store) == record.run_id
    with pytest.raises(SyncFailed, match="DynamoDB unreachable"):
        hop(follow_up, store, clock, queue, message_id="m-f", receives=continuation.MAX_RECEIVES)
    (record,) = runs.list_runs("d1", store)
    assert record.status == "failed" and "DynamoDB unreachable" in (record.error or "")
    assert locks.lease_holder("d1", store) is None  # the next sync may start
    assert queue.sent == []


def test_R20_a_follow_up_whose_checkpoint_cannot_be_read_fails_its_run_on_the_last_receive(store, clock) -> None:
    from classlink_sync.store.reports import s3_client

    onboard(store)
    queue = Queue()
    hop(request(), store, clock, queue)
    (follow_up,) = queue.sent
    queue.sent.clear()
    pointer = continuation.Pointer.parse(follow_up.continuation or {})
    s3 = s3_client(store.settings)
    s3.delete_object(Bucket=store.settings.report_bucket, Key=continuation.plan_key("d1", pointer.run_id))
    with pytest.raises(continuation.ContinuationRetry, match="cannot load its checkpoint"):
        hop(follow_up, store, clock, queue, message_id="m-f", receives=1)
    assert [r.status for r in runs.list_runs("d1", store)] == ["running"]
    with pytest.raises(SyncFailed, match="checkpoint could not be read"):
        hop(follow_up, store, clock, queue, message_id="m-f", receives=continuation.MAX_RECEIVES)
    assert [r.status for r in runs.list_runs("d1", store)] == ["failed"]
    assert locks.lease_holder("d1", store) is None


def test_R20_a_run_needing_more_follow_ups_than_allowed_ends_failed(store, clock, monkeypatch) -> None:
    onboard(store)
    monkeypatch.setattr(continuation, "MAX_HOPS", 2)
    queue = Queue()
    hop(request(), store, clock, queue)
    with pytest.raises(SyncFailed, match="at most 2 follow-ups"):
        drain(store, clock, queue)
    (record,) = runs.list_runs("d1", store)
    assert record.status == "failed" and progress(record)["invocations"] == 3
    assert locks.lease_holder("d1", store) is None


def test_R20_a_follow_up_of_a_run_that_ended_meanwhile_does_nothing(store, clock) -> None:
    onboard(store)
    queue = Queue()
    first = hop(request(), store, clock, queue)
    (follow_up,) = queue.sent
    queue.sent.clear()
    runs.mark_abandoned("d1", first.run_id, lease_expired_at=None, store=store)  # a later sync took over
    METER.reset()
    late = hop(follow_up, store, clock, queue)
    assert late.ended and late.status == "abandoned"
    assert METER.writes(roster_tables(store.settings)) == 0 and queue.sent == []


def test_R20_outside_a_queue_delivery_the_time_budget_still_fails_the_run(store, clock) -> None:
    onboard(store)
    with pytest.raises(SyncFailed, match="time budget"):
        run_sync(request(), store=store, fetch=fetching(roster.snapshot(STUDENTS)), deadline=budget(clock))
    (record,) = runs.list_runs("d1", store)
    assert record.status == "failed" and record.progress is not None and 0 < record.progress["chunks_done"] < 16
    assert locks.lease_holder("d1", store) is None


def test_R20_a_garbled_continuation_is_refused_as_an_invalid_message(store) -> None:
    from classlink_sync.errors import MessageInvalid

    onboard(store)
    with pytest.raises(MessageInvalid, match="R20"):
        run_sync(SyncRequest(district_id="d1", date="2026-11-28", trigger="manual", continuation={"chunk": 3}))


def test_R20_the_first_message_run_id_is_the_same_on_every_receive() -> None:
    sent = dt.datetime(2026, 11, 28, 6, 0, 1, tzinfo=dt.UTC)
    one = continuation.run_id_for(Delivery("msg-1", sent_at=sent))
    assert one == continuation.run_id_for(Delivery("msg-1", receive_count=3, sent_at=sent))
    assert one != continuation.run_id_for(Delivery("msg-2", sent_at=sent))
    assert one is not None and one.startswith("20261128T060001Z-") and len(one) == len(runs.new_run_id())
    assert continuation.run_id_for(Delivery("msg-1")) is None


def test_R20_runs_shows_the_progress_of_a_running_sync_and_the_invocations_of_a_continued_one() -> None:
    from classlink_sync.cli.sync import progress_text

    progress = {
        "stage": "applying",
        "fetched": 124,
        "fetch_total": 124,
        "planned": 185,
        "written": 60,
        "chunks_done": 6,
        "chunks_total": 16,
        "invocations": 3,
        "updated": "2026-11-28T06:10:00+00:00",
    }
    shown = progress_text(progress, running=True)
    assert shown == (
        "progress: applying, fetched 124/124, written 60/185 planned, chunks 6/16, invocation 3, "
        "at 2026-11-28T06:10:00+00:00"
    )
    assert progress_text({**progress, "stage": "ended"}, running=False) == "invocations 3"
    assert progress_text({**progress, "invocations": 1}, running=False) == ""
    assert progress_text(None, running=True) == ""


def _record(body: SyncRequest, message_id: str = "msg-1", receives: int = 1) -> Any:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    return SQSRecord(
        {
            "messageId": message_id,
            "body": body.to_json(),
            "attributes": {"ApproximateReceiveCount": str(receives), "SentTimestamp": "1795845600000"},
        }
    )


def test_R20_the_worker_hands_the_delivery_to_the_sync_and_counts_a_hand_off_as_a_success() -> None:
    from aws_lambda_powertools import Metrics

    from classlink_sync.report import RunReport
    from classlink_sync.sync import worker

    metrics = Metrics(namespace="R20Test", service="t")
    metrics.clear_metrics()
    started = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)).isoformat()
    seen: list[Delivery | None] = []

    def running(request: SyncRequest, *, deadline: float | None = None) -> service.SyncOutcome:
        seen.append(continuation.current_delivery())
        report = RunReport("d1", "run-1", "schedule", started, status="running")
        return service.SyncOutcome(report, None, hop=3)

    pointer = continuation.Pointer(run_id="run-1", hop=2, state_key="k", started=started)
    body = request().model_copy(update={"continuation": pointer.model_dump()})
    result = worker.process_message(_record(body, receives=2), metrics=metrics, run=running)
    assert result == {"district_id": "d1", "run_id": "run-1", "status": "running", "hop": 3}
    (delivery,) = seen
    assert delivery is not None and delivery.message_id == "msg-1" and delivery.receive_count == 2
    assert delivery.sent_at == dt.datetime(2026, 11, 28, 6, 0, tzinfo=dt.UTC)
    assert continuation.current_delivery() is None  # only while the sync runs
    recorded = dict(metrics.metric_set)
    assert recorded[continuation.HOP_METRIC]["Value"] == [1.0]
    ages = recorded[continuation.AGE_METRIC]["Value"]  # before the hop ran, and when it handed off
    assert len(ages) == 2 and all(age >= continuation.STUCK_SECONDS for age in ages)
    assert "SyncRuns" not in recorded and "SyncFailed" not in recorded  # counted once, when the run ends
    metrics.clear_metrics()

    def superseded(request: SyncRequest, *, deadline: float | None = None) -> service.SyncOutcome:
        report = RunReport("d1", "run-1", "", started, status="failed")
        return service.SyncOutcome(report, None, ended=True)

    late = worker.process_message(_record(body, message_id="msg-2"), metrics=metrics, run=superseded)
    assert late["noop"] is True  # a late copy of a message whose run failed: no retry, no DLQ
    assert continuation.HOP_METRIC not in dict(metrics.metric_set)
    metrics.clear_metrics()

    worker._report_failure(continuation.ContinuationRetry("R20: retry"), "msg-3", metrics)
    assert "SyncFailed" not in dict(metrics.metric_set)  # retried from its checkpoint, not a failed sync
    metrics.clear_metrics()
