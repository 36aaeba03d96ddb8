"""R14 end to end: a message delivered twice has one effect; two syncs of one district never overlap
(the lease), and a sync that finds the district busy is reported as a batch item failure so SQS
retries it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from classlink_local.stack import LocalStack
from classlink_sync.settings import get_settings
from classlink_sync.store import locks
from classlink_sync.store.dynamo import METER, roster_tables
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import DistrictBusy, run_sync

from .conftest import District, day, deliver, queue_depth, receive_one, send_sync, sync_via_queue

pytestmark = pytest.mark.e2e


def test_R14_same_sqs_message_delivered_twice_runs_one_sync(
    stack: LocalStack, make_district: Callable[..., District]
) -> None:
    district = make_district("once-msg", tenant_id="3301", seed=31, users=60)
    sqs = stack.client("sqs")
    message_id = send_sync(stack, SyncRequest(district_id=district.district_id, date=day(0), trigger="schedule"))

    first = receive_one(stack)
    assert first["MessageId"] == message_id
    assert deliver(stack, first) == {"batchItemFailures": []}
    [run] = district.runs()
    assert run.status == "succeeded" and run.roster_writes and run.roster_writes > 0
    export = district.export()

    # The delete is lost (or the invocation is retried): SQS delivers the same message again.
    sqs.change_message_visibility(QueueUrl=stack.queue_url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    again = receive_one(stack)
    assert again["MessageId"] == message_id and again["Attributes"]["ApproximateReceiveCount"] == "2"
    METER.reset()
    assert deliver(stack, again) == {"batchItemFailures": []}
    assert METER.writes(roster_tables(get_settings())) == 0
    assert [r.run_id for r in district.runs()] == [run.run_id]  # no second sync ran
    assert district.export() == export
    sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=again["ReceiptHandle"])
    assert queue_depth(stack) == 0


def test_R14_two_syncs_of_one_district_started_together_do_not_overlap(
    stack: LocalStack, make_district: Callable[..., District]
) -> None:
    district = make_district("once-lease", tenant_id="3302", seed=32, users=60)
    district.faults.add("slow", delay=0.25)  # every page a little slow: the syncs surely overlap
    start = threading.Barrier(2)
    results: list[Any] = []
    lock = threading.Lock()

    def sync(trigger: str) -> None:
        start.wait()
        try:
            outcome: Any = run_sync(SyncRequest(district_id=district.district_id, date=day(0), trigger=trigger))  # type: ignore[arg-type]
        except DistrictBusy as exc:
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=sync, args=(t,)) for t in ("schedule", "manual")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 2
    busy = [r for r in results if isinstance(r, DistrictBusy)]
    ran = [r for r in results if not isinstance(r, DistrictBusy)]
    assert len(busy) == 1 and len(ran) == 1, results
    assert ran[0].status == "succeeded"
    assert [r.run_id for r in district.runs()] == [ran[0].run_id]
    district.faults.clear()

    # Through the handler: while another sync holds the lease, the message is a batch item
    # failure (retried by SQS), and no run is recorded; once free, the redelivery runs.
    assert locks.acquire_lease(district.district_id, "another-run", 60)
    message_id = send_sync(stack, SyncRequest(district_id=district.district_id, date=day(1), trigger="manual"))
    message = receive_one(stack)
    assert deliver(stack, message) == {"batchItemFailures": [{"itemIdentifier": message_id}]}
    assert len(district.runs()) == 1
    assert locks.release_lease(district.district_id, "another-run")
    stack.client("sqs").change_message_visibility(
        QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    redelivered = receive_one(stack)
    assert redelivered["MessageId"] == message_id
    assert deliver(stack, redelivered) == {"batchItemFailures": []}
    runs_now = district.runs()
    assert len(runs_now) == 2 and runs_now[0].status == "succeeded"
    stack.client("sqs").delete_message(QueueUrl=stack.queue_url, ReceiptHandle=redelivered["ReceiptHandle"])
    assert sync_via_queue(stack, district, day(2)).status == "succeeded"
