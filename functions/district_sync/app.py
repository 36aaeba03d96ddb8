"""District-sync Lambda: one SQS message = one district's sync (R14), fetch -> plan -> (hold | apply).

Thin handler: Powertools ``BatchProcessor`` so one district failing never fails another (partial
batch response, template.yaml ``ReportBatchItemFailures``); each record parsed into a
``SyncRequest`` and handed to ``classlink_sync.sync.service.run_sync`` once, whatever SQS does:

* Idempotency is keyed on the SQS message id (``raise_on_no_idempotency_key``): a message delivered
  twice runs the sync once and the duplicate gets the first result.
* Failures are not cached: when the sync raises, or its run record says ``failed``, this handler
  raises, Powertools deletes the in-progress record, and SQS's redelivery really runs again (after
  the queue's visibility timeout; after 3 receives the message goes to the DLQ and an alarm fires).
* A run held for review (R10) or a dry run (R12) is a success: it is cached and not retried.

Metrics (EMF, namespace ``ClassLinkSync``, flushed here): each recorded run is counted by the
core's ``emit_run_metrics`` on this handler's ``Metrics`` (``SyncRuns``, ``SyncFailed``,
``SyncHeld``...); the handler adds ``SyncFailed`` itself only for a failure no run record holds
(an unreadable message, a crash before the run record), so nothing is counted twice.
template.yaml's alarms watch ``SyncFailed`` and ``SyncHeld``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import cache
from typing import Any, Protocol

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext
from classlink_sync.sync.messages import SyncRequest

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# Idempotency records must outlive every redelivery SQS can make of a message: the sync queue keeps
# a message at most 4 days (template.yaml SyncQueue.MessageRetentionPeriod = 345600; a unit test
# keeps the two in step). Expiry is checked by Powertools in code, not left to DynamoDB's TTL.
IDEMPOTENCY_EXPIRY_SECONDS = 4 * 24 * 60 * 60
IDEMPOTENCY_TABLE_VARIABLE = "IDEMPOTENCY_TABLE"

idempotency_config = IdempotencyConfig(
    event_key_jmespath="messageId",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=IDEMPOTENCY_EXPIRY_SECONDS,
)
# A batch where every record failed is reported item by item rather than raised: the response
# shape stays the same and SQS retries exactly the failed messages either way.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

FAILED = "failed"  # sync/report.py's run status
FAILED_METRIC = "SyncFailed"


class SyncOutcome(Protocol):
    """What ``run_sync`` returns: the run record (SPEC §3), of which the handler reads two fields."""

    @property
    def run_id(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def report(self) -> Any: ...


class SyncRunFailedError(RuntimeError):
    """The sync ran and recorded ``failed``: raised so the message is retried and nothing is cached."""


def run_sync(request: SyncRequest, *, deadline: float | None = None) -> SyncOutcome:
    """Production default: the core's ``run_sync``, imported on first use so this module loads
    without the store and the OneRoster client. Tests replace this module attribute.
    ``deadline`` is the ``time.monotonic()`` at which this invocation times out."""
    from classlink_sync.sync.service import run_sync as core_run_sync

    return core_run_sync(request, deadline=deadline)


def record_run_metrics(report: Any) -> None:
    """Production default: the core's per-run metrics, added to this handler's ``Metrics`` (flushed
    by ``log_metrics``). Tests may replace this module attribute."""
    from classlink_sync.sync.service import emit_run_metrics

    emit_run_metrics(metrics, report)


@cache
def _core_exceptions() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(failures the core recorded and counted, "district busy") from the core, if it imports."""
    try:
        from classlink_sync.sync.service import DistrictBusy, SyncFailed
    except ImportError:  # the failure being classified may be this very import
        return (), ()
    return (SyncFailed,), (DistrictBusy,)


@cache
def persistence_layer() -> BasePersistenceLayer:
    """Production default: the idempotency table (template.yaml IdempotencyTable), created on first
    use (its boto3 client honours ``AWS_ENDPOINT_URL``). Tests call ``cache_clear()``."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    table_name = os.environ.get(IDEMPOTENCY_TABLE_VARIABLE, "").strip()
    if not table_name:
        raise RuntimeError(f"missing required environment variable: {IDEMPOTENCY_TABLE_VARIABLE}")
    return DynamoDBPersistenceLayer(table_name=table_name)


def sync_record(record: SQSRecord, deadline: float | None = None) -> dict[str, Any]:
    """One message: parse, run the sync, shape the result. Raises on any failure (see module doc).
    Only ``record`` (its message id) is the idempotency key."""
    request = SyncRequest.parse(record.body)
    logger.append_keys(district_id=request.district_id, sync_date=request.date, trigger=request.trigger)
    outcome = run_sync(request, deadline=deadline)
    logger.append_keys(run_id=outcome.run_id)
    record_run_metrics(outcome.report)
    result = {"district_id": request.district_id, "run_id": outcome.run_id, "status": outcome.status}
    if outcome.status == FAILED:
        raise SyncRunFailedError(f"sync {outcome.run_id} of district {request.district_id} failed")
    logger.info("district sync finished", extra=result)
    return result


@cache
def idempotent_sync_record() -> Callable[..., dict[str, Any]]:
    """``sync_record`` made idempotent on the message id, bound to the persistence layer on first
    use. ``key_prefix`` is fixed so keys do not depend on how the module was imported."""
    return idempotent_function(
        sync_record,
        data_keyword_argument="record",
        persistence_store=persistence_layer(),
        config=idempotency_config,
        key_prefix="district-sync",
    )


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> dict[str, Any]:
    deadline = None
    if lambda_context is not None:
        deadline = time.monotonic() + lambda_context.get_remaining_time_in_millis() / 1000
    try:
        return idempotent_sync_record()(record=record, deadline=deadline)
    except IdempotencyAlreadyInProgressError:
        # The same message is being synced by another invocation right now: not a failure of the
        # sync; SQS redelivers this copy after the visibility timeout and it gets the stored result.
        logger.warning("message already in progress elsewhere", extra={"message_id": record.message_id})
        raise
    except Exception as exc:
        recorded, busy = _core_exceptions()
        if isinstance(exc, busy):  # R14: another sync of the district holds the lease; retried later
            logger.warning("district busy, message will be retried", extra={"message_id": record.message_id})
        elif isinstance(exc, (SyncRunFailedError, *recorded)):  # a run record says failed
            if isinstance(exc, recorded):
                record_run_metrics(getattr(exc, "report", None))
            logger.error("district sync failed", extra={"message_id": record.message_id, "error": str(exc)})
        else:
            metrics.add_metric(name=FAILED_METRIC, unit=MetricUnit.Count, value=1)
            logger.exception("district sync raised", extra={"message_id": record.message_id})
        raise
    finally:
        logger.remove_keys(["district_id", "sync_date", "trigger", "run_id"])


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # In-progress idempotency records expire with this invocation, so a crashed run is retried.
    idempotency_config.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
