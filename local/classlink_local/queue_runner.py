"""Drain the sync queue through the real district-sync handler, as Lambda's SQS event source
mapping does: receive, wrap in the SQS event shape, invoke, delete what succeeded, leave the
reported failures for redelivery (SPEC R14; DESIGN.md "The local stack")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from classlink_local.lambda_runtime import invoke


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda builds from received SQS messages (as `sam local generate-event sqs`)."""
    records = []
    for message in messages:
        attributes = message.get("Attributes", {})
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": attributes.get("SentTimestamp", "0"),
                    "SenderId": attributes.get("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
                    "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
                },
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


@dataclass
class DrainResult:
    invocations: int = 0
    succeeded: list[str] = field(default_factory=list)  # message ids
    failed: list[str] = field(default_factory=list)


def drain_queue(
    sqs: Any, queue_url: str, *, batch_size: int = 1, max_batches: int = 1000, timeout_seconds: int = 900
) -> DrainResult:
    """Deliver every visible message to ``functions/district_sync`` (BatchSize as in template.yaml),
    follow-up messages the handler sends included (R20), each invocation with a Lambda context of
    ``timeout_seconds`` (the function's Timeout: a smaller one makes syncs continue sooner)."""
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    region = sqs.meta.region_name
    result = DrainResult()
    for _ in range(max_batches):
        received = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=batch_size,
            AttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not received:
            break
        response = invoke("district_sync", sqs_event(received, arn, region), timeout_seconds=timeout_seconds) or {}
        result.invocations += 1
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        for message in received:
            if message["MessageId"] in failed:
                result.failed.append(message["MessageId"])
                # Make it visible again only after the run ends, as the visibility timeout would.
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            result.succeeded.append(message["MessageId"])
    return result
