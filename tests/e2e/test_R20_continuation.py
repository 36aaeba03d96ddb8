"""R20 end to end: a district whose sync needs several Lambda invocations, through the real
district-sync handler, the local stack's SQS queue (follow-up messages included) and moto.

Each invocation gets a Lambda context with a small timeout (``TIMEOUT``: the run record's margin
plus ``BUDGET`` seconds of apply); the deadline comes from that context, as in Lambda. Time is
virtual and moves only with the work: every chunk's checkpoint advances the clock the Lambda
context, the worker and apply read by ``STEP`` seconds, so an invocation holds at most three
chunks on any machine. Apply chunks are small (``CHUNK`` items) so that a district of 60 users
needs many. The result is compared with an unbounded sync of the same generated data in another
district (other username prefix and tenant), by sourcedId, username, role, activity and subject.
"""

from __future__ import annotations

import itertools
import time as real_time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from classlink_local import lambda_runtime
from classlink_local.lambda_runtime import invoke
from classlink_local.queue_runner import sqs_event
from classlink_local.stack import LocalStack
from classlink_sync.settings import get_settings
from classlink_sync.store import apply as apply_module
from classlink_sync.store import runs
from classlink_sync.store.dynamo import METER, roster_tables
from classlink_sync.sync import continuation, service, worker
from classlink_sync.sync.messages import SyncRequest

from .conftest import District, day, roster_state, send_sync, start_district, sync_via_queue

pytestmark = pytest.mark.e2e

SEED = 47
USERS = 60
CHUNK = 25
STEP = 10.0  # virtual seconds per chunk
BUDGET = 25  # virtual seconds of apply per invocation: at most three chunks
TIMEOUT = service.RECORD_MARGIN_SECONDS + BUDGET


class Killed(BaseException):
    """The invocation's process dies here: no handler code runs after it, nothing is written."""


@dataclass
class Clock:
    offset: float = 0.0
    hooks: list[Callable[[continuation.HopInfo], None]] = field(default_factory=list)  # after each checkpoint

    def monotonic(self) -> float:
        return real_time.monotonic() + self.offset


@pytest.fixture(scope="module")
def reference(stack: LocalStack) -> Iterator[dict[str, Any]]:
    """The same data synced in one unbounded invocation."""
    district = start_district("r20-ref", tenant_id="2000", seed=SEED, users=USERS, prefix="R20RefISD", problem_share=0)
    try:
        METER.reset()
        run = sync_via_queue(stack, district, day(0))
        assert run.status == "succeeded"
        yield {
            "run": run,
            "writes": METER.writes(roster_tables(get_settings())),
            "state": roster_state(district.export(), "R20RefISD"),
        }
    finally:
        district.emulator.stop()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """Virtual time for the Lambda context, the worker's deadline and apply, moved by each chunk;
    ``clock.hooks`` run after each chunk's checkpoint (a test's kill)."""
    clock = Clock()
    virtual = types.SimpleNamespace(monotonic=clock.monotonic)
    for module in (lambda_runtime, worker, apply_module):
        monkeypatch.setattr(module, "time", virtual)
    monkeypatch.setattr(service, "APPLY_CHUNK_SIZE", CHUNK)

    def between(info: continuation.HopInfo) -> None:
        clock.offset += STEP
        for hook in clock.hooks:
            hook(info)

    monkeypatch.setattr(continuation, "between_chunks", between)
    yield clock


def _same_data(make_district: Callable[..., District], district_id: str, tenant_id: str, prefix: str) -> District:
    return make_district(district_id, tenant_id=tenant_id, seed=SEED, users=USERS, prefix=prefix, problem_share=0)


def _receive(stack: LocalStack) -> list[dict[str, Any]]:
    return list(
        stack.client("sqs")
        .receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=1, AttributeNames=["All"], WaitTimeSeconds=0)
        .get("Messages", [])
    )


def _invoke(stack: LocalStack, message: dict[str, Any]) -> dict[str, Any]:
    """One invocation of the real handler with a short Lambda timeout, as the event source mapping
    makes it (BatchSize 1)."""
    sqs = stack.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    event = sqs_event([message], arn, sqs.meta.region_name)
    return dict(invoke("district_sync", event, timeout_seconds=TIMEOUT) or {})


def _delete(stack: LocalStack, message: dict[str, Any]) -> None:
    stack.client("sqs").delete_message(QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"])


def _dlq_depth(stack: LocalStack) -> int:
    attrs = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.env["SYNC_DLQ_URL"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def _finish(stack: LocalStack, district: District, reference: dict[str, Any]) -> runs.RunRecord:
    """The district ends as one succeeded run with the unbounded run's roster, nothing in the DLQ."""
    (record,) = district.runs()
    assert record.status == "succeeded", record
    assert roster_state(district.export(), district.prefix) == reference["state"]
    assert record.counts == reference["run"].counts
    assert _dlq_depth(stack) == 0
    assert _receive(stack) == []
    return record


def test_R20_a_district_synced_over_many_invocations_ends_as_one_run_like_an_unbounded_sync(
    stack: LocalStack, make_district: Callable[..., District], reference: dict[str, Any], clock: Clock
) -> None:
    district = _same_data(make_district, "r20-hops", "2001", "R20HopsISD")
    METER.reset()
    send_sync(stack, SyncRequest(district_id=district.district_id, date=day(0), trigger="schedule"))
    invocations, written = 0, []
    while received := _receive(stack):
        (message,) = received
        response = _invoke(stack, message)
        assert response["batchItemFailures"] == []
        _delete(stack, message)
        invocations += 1
        (record,) = district.runs()  # one run record from the start
        if record.status == "running":  # R20: progress visible while it continues
            assert record.progress is not None and record.progress["invocations"] == invocations
            assert record.progress["fetched"] == record.progress["fetch_total"] > 0
            assert record.progress["chunks_done"] < record.progress["chunks_total"]
            written.append(record.progress["written"])
        assert invocations <= continuation.MAX_HOPS + 1
    assert invocations >= 4
    assert written == sorted(written) and len(set(written[1:])) == len(written) - 1  # every follow-up moved on
    record = _finish(stack, district, reference)
    assert record.progress is not None and record.progress["invocations"] == invocations
    # Every item written once, as by the unbounded run.
    assert record.roster_writes == reference["run"].roster_writes
    assert METER.writes(roster_tables(get_settings())) == reference["writes"]
    report = district.report(record)
    assert report["continuation"] == {"invocations": invocations}
    assert [i for i in report["issues"] if i["rule"] == "R5"] == []


def test_R20_every_message_delivered_twice_ends_the_same(
    stack: LocalStack, make_district: Callable[..., District], reference: dict[str, Any], clock: Clock
) -> None:
    district = _same_data(make_district, "r20-twice", "2002", "R20TwiceISD")
    sqs = stack.client("sqs")
    send_sync(stack, SyncRequest(district_id=district.district_id, date=day(0), trigger="schedule"))
    invocations = 0
    for round_ in itertools.count():
        received = _receive(stack)
        if not received:
            break
        (message,) = received
        assert _invoke(stack, message)["batchItemFailures"] == []
        # SQS delivers the same message again (at least once): the handler's idempotency answers.
        assert _invoke(stack, message)["batchItemFailures"] == []
        if round_ == 1:
            # A follow-up sent twice (its sender died after sending): a copy with its own message id.
            sqs.send_message(QueueUrl=stack.queue_url, MessageBody=message["Body"])
        _delete(stack, message)
        invocations += 1
        assert invocations <= 2 * continuation.MAX_HOPS
    assert invocations >= 5
    record = _finish(stack, district, reference)
    assert record.roster_writes == reference["run"].roster_writes


def test_R20_a_process_killed_between_chunks_resumes_when_sqs_delivers_again(
    stack: LocalStack, make_district: Callable[..., District], reference: dict[str, Any], clock: Clock
) -> None:
    district = _same_data(make_district, "r20-killed", "2003", "R20KilledISD")
    send_sync(stack, SyncRequest(district_id=district.district_id, date=day(0), trigger="schedule"))
    kills: list[continuation.HopInfo] = []

    def kill(info: continuation.HopInfo) -> None:
        # The second follow-up dies after its first chunk; the first message dies once too, early.
        if (info.hop, len(kills)) in ((0, 0), (2, 1)) and info.chunks_done >= 1:
            kills.append(info)
            raise Killed

    clock.hooks.append(kill)
    invocations = 0
    while received := _receive(stack):
        (message,) = received
        invocations += 1
        assert invocations <= continuation.MAX_HOPS + 5
        try:
            response = _invoke(stack, message)
        except Killed:
            (record,) = district.runs()
            assert record.status == "running"
            _as_if_the_invocation_timed_out(stack, message)
            continue
        assert response["batchItemFailures"] == []
        _delete(stack, message)
    assert [(k.hop) for k in kills] == [0, 2]
    record = _finish(stack, district, reference)
    assert record.progress is not None and record.progress["invocations"] >= 4


def _as_if_the_invocation_timed_out(stack: LocalStack, message: dict[str, Any]) -> None:
    """What time does after a killed invocation: its Lambda timeout passes (the idempotency
    record it left in progress expires with it) and then the queue's visibility timeout (the
    message is visible again, to be received a second time)."""
    idempotency = stack.client("dynamodb")
    table = stack.env["IDEMPOTENCY_TABLE"]
    for item in idempotency.scan(TableName=table)["Items"]:
        if item.get("status", {}).get("S") == "INPROGRESS":
            idempotency.update_item(
                TableName=table,
                Key={"id": item["id"]},
                UpdateExpression="SET in_progress_expiration = :past",
                ExpressionAttributeValues={":past": {"N": "0"}},
            )
    stack.client("sqs").change_message_visibility(
        QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
