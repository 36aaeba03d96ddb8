"""The daily fan-out (R1, R14): one message per enabled district, once per date."""

from __future__ import annotations

import datetime as dt
import json

import boto3

from classlink_sync.store import locks
from classlink_sync.store.districts import add_district
from classlink_sync.sync.dispatch import dispatch_due_districts


def onboard(store, district: str, enable_from: dt.date) -> None:
    add_district(
        district,
        tenant_id=district,
        oneroster_url="https://example.invalid/ims/oneroster/v1p1",
        client_id="k",
        client_secret="s",
        schools="all",
        enable_from=enable_from,
        override_notice=True,
        today=dt.date(2026, 11, 1),
        store=store,
    )


def queue(store) -> tuple[object, str]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="t-sync")["QueueUrl"]
    return sqs, url


def drain(sqs, url) -> list[dict]:
    bodies = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_R14_every_enabled_district_gets_one_message_in_batches_of_ten(store, monkeypatch) -> None:
    sqs, url = queue(store)
    monkeypatch.setenv("SYNC_QUEUE_URL", url)
    for n in range(23):
        onboard(store, f"d{n:02d}", dt.date(2026, 11, 28))
    result = dispatch_due_districts(today="2026-11-28", store=store, sqs=sqs)
    assert len(result.sent) == 23 and not result.failed
    bodies = drain(sqs, url)
    assert sorted(b["district_id"] for b in bodies) == [f"d{n:02d}" for n in range(23)]
    assert {(b["date"], b["trigger"]) for b in bodies} == {("2026-11-28", "schedule")}


def test_R14_a_schedule_delivered_twice_sends_each_district_once(store, monkeypatch) -> None:
    sqs, url = queue(store)
    monkeypatch.setenv("SYNC_QUEUE_URL", url)
    onboard(store, "d1", dt.date(2026, 11, 28))
    first = dispatch_due_districts(today="2026-11-28", store=store, sqs=sqs)
    second = dispatch_due_districts(today="2026-11-28", store=store, sqs=sqs)
    assert first.sent == ["d1"] and second.sent == []
    assert "R14" in second.skipped["d1"]
    assert len(drain(sqs, url)) == 1
    assert dispatch_due_districts(today="2026-11-29", store=store, sqs=sqs).sent == ["d1"]  # next day's slot


def test_R1_a_district_is_skipped_before_its_enable_date(store, monkeypatch) -> None:
    sqs, url = queue(store)
    monkeypatch.setenv("SYNC_QUEUE_URL", url)
    onboard(store, "later", dt.date(2026, 12, 15))
    result = dispatch_due_districts(today="2026-11-28", store=store, sqs=sqs)
    assert result.sent == [] and "2026-12-15" in result.skipped["later"]
    assert drain(sqs, url) == []


def test_R14_a_send_sqs_refuses_frees_the_slot_for_the_retry(store, monkeypatch) -> None:
    monkeypatch.setenv("SYNC_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/t-sync")
    onboard(store, "d1", dt.date(2026, 11, 28))

    class Refusing:
        def send_message_batch(self, QueueUrl, Entries):
            return {"Failed": [{"Id": e["Id"], "Code": "InternalError", "Message": "try again"} for e in Entries]}

    result = dispatch_due_districts(today="2026-11-28", store=store, sqs=Refusing())
    assert result.failed == {"d1": "InternalError: try again"}
    assert locks.claim_slot("d1", "2026-11-28", store)  # the slot is free again
