"""functions/district_sync: partial batch failures, idempotency on the SQS message id, failures
not cached; the real SQS event shape (events/sync_message.json), moto's DynamoDB in-process."""

from __future__ import annotations

import copy
import hashlib
import inspect
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from classlink_sync import aws as aws_clients
from classlink_sync.report import RunReport
from classlink_sync.sync.messages import SyncRequest

from .conftest import FakeLambdaContext, emf_blobs, emitted_metrics, load_event, load_template

TABLE = "classlink-sync-test-idempotency"


@dataclass
class FakeRun:
    run_id: str
    status: str
    district_id: str = "district-a"

    @property
    def report(self) -> RunReport:
        return RunReport(self.district_id, self.run_id, "schedule", "2026-01-05T06:00:00Z", status=self.status)


class FakeSync:
    """Stands in for classlink_sync.sync.service.run_sync: records calls, fails on demand."""

    def __init__(self) -> None:
        self.calls: list[SyncRequest] = []
        self.deadlines: list[float | None] = []
        self.raise_for: dict[str, int] = {}  # district_id -> how many more calls raise
        self.error: Callable[[SyncRequest], Exception] = lambda r: RuntimeError(f"crash in {r.district_id}")
        self.status_for: dict[str, str] = {}

    def __call__(self, request: SyncRequest, *, deadline: float | None = None) -> FakeRun:
        self.calls.append(request)
        self.deadlines.append(deadline)
        if self.raise_for.get(request.district_id, 0) > 0:
            self.raise_for[request.district_id] -= 1
            raise self.error(request)
        status = self.status_for.get(request.district_id, "succeeded")
        return FakeRun(run_id=f"run-{len(self.calls)}", status=status, district_id=request.district_id)

    def districts(self) -> list[str]:
        return [c.district_id for c in self.calls]


def sqs_event(*districts: str, message_ids: list[str] | None = None) -> dict[str, Any]:
    """events/sync_message.json with one record per district (same shape, own id and body)."""
    base = load_event("sync_message.json")
    template_record = base["Records"][0]
    records = []
    for n, district in enumerate(districts):
        record = copy.deepcopy(template_record)
        body = SyncRequest(district_id=district, date="2026-01-05", trigger="schedule").to_json()
        record["body"] = body
        record["md5OfBody"] = hashlib.md5(body.encode()).hexdigest()
        record["messageId"] = message_ids[n] if message_ids else f"msg-{district}"
        records.append(record)
    return {"Records": records}


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def idempotency_table(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """The idempotency table as template.yaml defines it (keys, TTL), in moto."""
    props = load_template()["Resources"]["IdempotencyTable"]["Properties"]
    # The process's boto3 session: boto3.client() under mock_aws builds a new one (data files parsed again).
    client = aws_clients.boto3_session().client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName=TABLE,
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        BillingMode=props["BillingMode"],
    )
    client.update_time_to_live(TableName=TABLE, TimeToLiveSpecification=props["TimeToLiveSpecification"])
    monkeypatch.setenv("IDEMPOTENCY_TABLE", TABLE)
    return TABLE


@pytest.fixture
def fake_sync() -> FakeSync:
    return FakeSync()


@pytest.fixture
def handler(
    idempotency_table: str,
    handler_loader: Callable[[str], Any],
    fake_sync: FakeSync,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    module = handler_loader("district_sync")
    monkeypatch.setattr(module, "run_sync", fake_sync)
    return module


def invoke(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    return handler.lambda_handler(copy.deepcopy(event), FakeLambdaContext())


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def test_sample_event_runs_one_sync(handler: Any, fake_sync: FakeSync) -> None:
    event = load_event("sync_message.json")
    response = invoke(handler, event)
    assert failures(response) == []
    assert fake_sync.calls == [SyncRequest(district_id="demo-isd", date="2026-01-05", trigger="schedule")]


def test_one_failing_district_fails_only_its_own_message(
    handler: Any, fake_sync: FakeSync, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_sync.raise_for["district-b"] = 1
    response = invoke(handler, sqs_event("district-a", "district-b", "district-c"))
    assert failures(response) == ["msg-district-b"]
    assert fake_sync.districts() == ["district-a", "district-b", "district-c"]
    # An exception the core did not record is counted by the handler (the alarm's metric).
    assert emitted_metrics(capsys.readouterr().out).get("SyncFailed") == 1


def test_same_message_delivered_twice_runs_the_sync_once(handler: Any, fake_sync: FakeSync) -> None:
    event = sqs_event("district-a")
    first = invoke(handler, event)
    second = invoke(handler, event)
    assert failures(first) == [] and failures(second) == []
    assert fake_sync.districts() == ["district-a"]


def test_a_new_message_for_the_same_district_runs_again(handler: Any, fake_sync: FakeSync) -> None:
    """The key is the message id, not the body: "sync now" after the daily run is a new sync."""
    invoke(handler, sqs_event("district-a", message_ids=["m-1"]))
    invoke(handler, sqs_event("district-a", message_ids=["m-2"]))
    assert fake_sync.districts() == ["district-a", "district-a"]


def test_a_raised_failure_is_not_cached_and_redelivery_runs_again(handler: Any, fake_sync: FakeSync) -> None:
    fake_sync.raise_for["district-a"] = 1
    event = sqs_event("district-a")
    assert failures(invoke(handler, event)) == ["msg-district-a"]
    assert failures(invoke(handler, event)) == []
    assert fake_sync.districts() == ["district-a", "district-a"]
    # ... and once it succeeded, a third delivery is a duplicate.
    invoke(handler, event)
    assert len(fake_sync.calls) == 2


def test_a_run_recorded_as_failed_is_retried_not_cached(
    handler: Any, fake_sync: FakeSync, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_sync.status_for["district-a"] = "failed"
    event = sqs_event("district-a")
    assert failures(invoke(handler, event)) == ["msg-district-a"]
    fake_sync.status_for["district-a"] = "succeeded"
    assert failures(invoke(handler, event)) == []
    assert len(fake_sync.calls) == 2
    # Counted once, from the run record (the core's emit_run_metrics), not again by the handler.
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics.get("SyncFailed") == 1
    assert metrics.get("SyncRuns") == 2


def test_a_held_run_succeeds_and_is_cached(handler: Any, fake_sync: FakeSync) -> None:
    fake_sync.status_for["district-a"] = "held"
    event = sqs_event("district-a")
    assert failures(invoke(handler, event)) == []
    assert failures(invoke(handler, event)) == []
    assert len(fake_sync.calls) == 1


def test_failures_the_core_recorded_are_retried_and_counted_once(
    handler: Any, fake_sync: FakeSync, capsys: pytest.CaptureFixture[str]
) -> None:
    from classlink_sync.sync.service import DistrictBusy, SyncFailed

    report = RunReport(district_id="district-a", run_id="r-1", trigger="schedule", started_at="t", status="failed")
    fake_sync.raise_for = {"district-a": 1, "district-b": 1}
    fake_sync.error = lambda r: SyncFailed(report) if r.district_id == "district-a" else DistrictBusy("busy")
    event = sqs_event("district-a", "district-b")
    assert failures(invoke(handler, event)) == ["msg-district-a", "msg-district-b"]
    # SyncFailed once, from the recorded failure's run record; a busy district (R14) is no failure.
    assert emitted_metrics(capsys.readouterr().out).get("SyncFailed") == 1
    assert failures(invoke(handler, event)) == []  # both redeliveries really run again
    assert fake_sync.districts() == ["district-a", "district-b", "district-a", "district-b"]


def test_core_metrics_land_on_the_dimension_the_alarms_watch(
    handler: Any, fake_sync: FakeSync, capsys: pytest.CaptureFixture[str]
) -> None:
    """A held run's SyncHeld (the core's emit_run_metrics) is flushed with the service dimension
    template.yaml's alarms use (POWERTOOLS_SERVICE_NAME), in the ClassLinkSync namespace."""
    fake_sync.status_for["district-a"] = "held"
    invoke(handler, sqs_event("district-a"))
    blobs = [b for b in emf_blobs(capsys.readouterr().out) if "SyncHeld" in b]
    assert len(blobs) == 1
    directive = blobs[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ClassLinkSync"
    assert directive["Dimensions"] == [["service"]]
    assert blobs[0]["service"] == "classlink-sync-test"  # conftest's POWERTOOLS_SERVICE_NAME


def test_the_sync_gets_the_invocation_deadline(handler: Any, fake_sync: FakeSync) -> None:
    before = time.monotonic()
    invoke(handler, sqs_event("district-a"))
    (deadline,) = fake_sync.deadlines
    assert deadline is not None
    assert before + 899 <= deadline <= time.monotonic() + 900  # FakeLambdaContext: 900 s remaining


def test_a_malformed_body_fails_its_message_without_a_sync(handler: Any, fake_sync: FakeSync) -> None:
    event = sqs_event("district-a", "district-b")
    event["Records"][0]["body"] = (
        '{"district_id": "district-a", "date": "2026-01-05", "trigger": "schedule", "dryrun": true}'
    )
    response = invoke(handler, event)
    assert failures(response) == ["msg-district-a"]
    assert fake_sync.districts() == ["district-b"]


def test_idempotency_records_live_in_the_template_table(handler: Any, idempotency_table: str) -> None:
    invoke(handler, sqs_event("district-a"))
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=idempotency_table)["Items"]
    assert len(items) == 1
    assert items[0]["status"]["S"] == "COMPLETED"
    assert int(items[0]["expiration"]["N"]) > 0


def test_missing_idempotency_table_setting_fails_loudly(
    aws: None, handler_loader: Callable[[str], Any], fake_sync: FakeSync, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IDEMPOTENCY_TABLE", raising=False)
    module = handler_loader("district_sync")
    monkeypatch.setattr(module, "run_sync", fake_sync)
    response = invoke(module, sqs_event("district-a"))
    assert failures(response) == ["msg-district-a"]
    assert fake_sync.calls == []
    with pytest.raises(RuntimeError, match="IDEMPOTENCY_TABLE"):
        module.persistence_layer()


def test_production_default_calls_the_core_service(handler_loader: Callable[[str], Any]) -> None:
    """The handler's default ``run_sync`` is classlink_sync.sync.service.run_sync itself, imported
    with the handler (every invocation needs it), and the worker's default is the same function."""
    from classlink_sync.sync import service, worker

    module = handler_loader("district_sync")
    assert module.run_sync is service.run_sync
    assert inspect.signature(worker.process_record).parameters["run"].default is service.run_sync
    assert inspect.signature(worker.process_message).parameters["run"].default is service.run_sync
