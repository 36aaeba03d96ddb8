"""District-sync Lambda: one SQS message = one district's sync (R14), fetch -> plan -> (hold | apply).

Thin handler: Powertools ``BatchProcessor`` so one district failing never fails another (partial
batch response, template.yaml ``ReportBatchItemFailures``); each record goes to
``classlink_sync.sync.worker.process_record``, which parses it, runs the sync once per message id
(idempotency), counts it and decides what a failure means (read its module doc). Metrics (EMF,
namespace ``ClassLinkSync``) are flushed here; template.yaml's alarms watch ``SyncFailed`` and
``SyncHeld``.

``run_sync`` and ``persistence_layer`` are the injection points, production defaults that tests
replace (``persistence_layer.cache_clear()`` forgets the table).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from classlink_sync.sync.service import run_sync
from classlink_sync.sync.worker import idempotency_persistence_layer, process_record

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# Idempotency records must outlive every redelivery SQS can make of a message: the sync queue keeps
# a message at most 4 days (template.yaml SyncQueue.MessageRetentionPeriod = 345600; a unit test
# keeps the two in step). Expiry is checked by Powertools in code, not left to DynamoDB's TTL.
IDEMPOTENCY_EXPIRY_SECONDS = 4 * 24 * 60 * 60

idempotency_config = IdempotencyConfig(
    event_key_jmespath="messageId",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=IDEMPOTENCY_EXPIRY_SECONDS,
)
# A batch where every record failed is reported item by item rather than raised: the response
# shape stays the same and SQS retries exactly the failed messages either way.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@cache
def persistence_layer() -> BasePersistenceLayer:
    """The idempotency table, built on the first record, so a missing ``IDEMPOTENCY_TABLE`` fails
    each message (and names the variable) rather than the cold start."""
    return idempotency_persistence_layer()


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> dict[str, Any]:
    return process_record(
        record, lambda_context, metrics=metrics, persistence=persistence_layer, config=idempotency_config, run=run_sync
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # In-progress idempotency records expire with this invocation, so a crashed run is retried.
    idempotency_config.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
